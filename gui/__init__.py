"""The Diskscope window (Qt). Core work runs in worker threads."""
