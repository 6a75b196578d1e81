//! Re-entrancy guards: which objects run user code (a delivery or record callback, an offset
//! store) on this thread. Calls that would deadlock or free what is running if made from inside
//! that code check [`active`] and fail with IN_CALLBACK instead. One list for every kind of guard:
//! an object is identified by its address, which is unique among live objects.

use std::cell::RefCell;

thread_local! {
    static RUNNING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Marks object `id` as running user code on this thread until dropped (also when unwinding).
pub(crate) struct Scope(usize);

impl Scope {
    pub(crate) fn enter(id: usize) -> Scope {
        RUNNING.with(|r| r.borrow_mut().push(id));
        Scope(id)
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        RUNNING.with(|r| {
            let mut v = r.borrow_mut();
            if let Some(i) = v.iter().rposition(|x| *x == self.0) {
                v.remove(i);
            }
        });
    }
}

/// True if object `id` runs user code on this thread (in any enclosing frame).
pub(crate) fn active(id: usize) -> bool {
    RUNNING.with(|r| r.borrow().contains(&id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_scopes_and_unwinding() {
        let outer = Scope::enter(1);
        {
            let _inner = Scope::enter(2);
            assert!(active(1) && active(2));
        }
        assert!(active(1) && !active(2));
        let r = std::panic::catch_unwind(|| {
            let _s = Scope::enter(3);
            panic!("unwinds");
        });
        assert!(r.is_err() && !active(3));
        drop(outer);
        assert!(!active(1));
    }
}
