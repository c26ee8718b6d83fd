//! The distcc proxy port: stock distcc clients through the scheduler.
