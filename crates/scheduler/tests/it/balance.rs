//! The seed's balance-daemon ports, with the seed's own Tcl scripts.
