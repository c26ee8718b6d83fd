/* The calibration unit of ccfarmd: every server compiles this same file, so the time it
 * takes compares the servers' speeds. It includes no header, so that it is the same work
 * whatever a server has installed, and it gives the optimiser loops, branches and inlining
 * to do, as ordinary code does. */

typedef unsigned long word;

#define STEP(n)                                                                    \
    word ccfarm_calibration_##n(word seed, const word *table, int len)             \
    {                                                                              \
        word h = seed * 0x9e3779b97f4a7c15ul + (n);                                \
        for (int i = 0; i < len; i++) {                                            \
            word t = table[(i * (n) + 7) % len];                                   \
            if ((h ^ t) & 1)                                                       \
                h = (h << 5) + (h >> 3) + t * (n);                                 \
            else                                                                   \
                h ^= (t << 11) | (t >> 7);                                         \
            for (int j = 0; j < (n) % 5 + 2; j++)                                  \
                h += (h >> ((j + (n)) % 13)) ^ (word)j;                            \
        }                                                                          \
        switch (h % 6) {                                                           \
        case 0: return h + (n);                                                    \
        case 1: return h ^ (word)len;                                              \
        case 2: return h * 3 + (word)table[0];                                     \
        case 3: return (h >> 9) | (h << 55);                                       \
        case 4: return h - (n) * 17;                                               \
        default: return ~h;                                                        \
        }                                                                          \
    }

#define TEN(n)                                                                     \
    STEP(n##0) STEP(n##1) STEP(n##2) STEP(n##3) STEP(n##4)                         \
    STEP(n##5) STEP(n##6) STEP(n##7) STEP(n##8) STEP(n##9)

TEN(1) TEN(2) TEN(3)
