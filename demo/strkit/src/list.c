/* strkit - singly linked integer lists with arena-allocated nodes. */
#include "strkit/common.h"
#include "strkit/mem.h"

sk_list_node *sk_list_push_front(sk_arena *a, sk_list_node *head, int64_t v)
{
    sk_list_node *n = sk_arena_alloc(a, sizeof *n, _Alignof(sk_list_node));

    if (n == NULL)
        return NULL;
    n->value = v;
    n->next = head;
    return n;
}

sk_list_node *sk_list_reverse(sk_list_node *head)
{
    sk_list_node *prev = NULL;

    while (head != NULL) {
        sk_list_node *next = head->next;
        head->next = prev;
        prev = head;
        head = next;
    }
    return prev;
}

size_t sk_list_length(const sk_list_node *head)
{
    size_t n = 0;

    for (; head != NULL; head = head->next)
        n++;
    return n;
}

/* Stable merge of two sorted lists. */
static sk_list_node *merge(sk_list_node *a, sk_list_node *b)
{
    sk_list_node dummy;
    sk_list_node *tail = &dummy;

    while (a != NULL && b != NULL) {
        if (b->value < a->value) {
            tail->next = b;
            b = b->next;
        } else {
            tail->next = a;
            a = a->next;
        }
        tail = tail->next;
    }
    tail->next = a != NULL ? a : b;
    return dummy.next;
}

/* Bottom-up merge sort: O(n log n), no recursion, no extra memory. */
sk_list_node *sk_list_sort(sk_list_node *head)
{
    size_t width;
    size_t n = sk_list_length(head);

    for (width = 1; width < n; width *= 2) {
        sk_list_node *result = NULL;
        sk_list_node *result_tail = NULL;
        sk_list_node *rest = head;
        while (rest != NULL) {
            sk_list_node *left = rest;
            sk_list_node *right;
            sk_list_node *merged;
            size_t k;
            /* Cut two runs of up to width nodes each. */
            for (k = 1; k < width && rest->next != NULL; k++)
                rest = rest->next;
            right = rest->next;
            rest->next = NULL;
            rest = right;
            for (k = 1; k < width && rest != NULL && rest->next != NULL; k++)
                rest = rest->next;
            if (rest != NULL) {
                sk_list_node *after = rest->next;
                rest->next = NULL;
                rest = after;
            }
            merged = merge(left, right);
            if (result_tail == NULL)
                result = merged;
            else
                result_tail->next = merged;
            result_tail = merged;
            while (result_tail->next != NULL)
                result_tail = result_tail->next;
        }
        head = result;
    }
    return head;
}
