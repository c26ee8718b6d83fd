//! The admin API and `ccfarm hosts/drain/up/down/add/remove`.
