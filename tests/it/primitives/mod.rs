//! `DeferredLock`, `DeferredSemaphore` and `DeferredQueue`.

mod lock_semaphore_queue;
