"""Plan + execute: each kind's reconcile and finalize, the run poller, and input resolution."""
