//! Every public call of the group consumer raced against the others, `close`, `crash` and (through
//! the C ABI) `free`, from several threads: nothing hangs, nothing crashes, calls after close
//! return CLOSED, and the other members take the topics over.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lnc::ffi::conf::{lnc_conf_new, lnc_conf_set};
use lnc::ffi::group::*;
use lnc::ffi::lnc_err_t;
use lnc::group::GroupConsumer;
use lnc::mock::{MockBroker, MockConfig};
use lnc::{Config, ErrorCode};

fn bounded<F: FnOnce() + Send + 'static>(secs: u64, f: F) {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let h = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => h.join().unwrap(),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
            if let Err(p) = h.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(_) => panic!("test did not finish within {secs} s"),
    }
}

fn pairs(addr: &str, id: &str) -> Vec<(String, String)> {
    [
        ("bootstrap.servers", addr),
        ("group.id", "torture"),
        ("group.member.id", id),
        ("group.topics", "t-0,t-1,t-2,t-3"),
        ("group.session.timeout.ms", "600"),
        ("group.heartbeat.interval.ms", "60"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn member(addr: &str, id: &str) -> Arc<GroupConsumer> {
    let p = pairs(addr, id);
    Arc::new(GroupConsumer::new(&Config::from_pairs(p.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap()).unwrap())
}

fn broker_with_data() -> MockBroker {
    let mock = MockBroker::start(MockConfig { ack_delay: Duration::ZERO, ..Default::default() }).unwrap();
    let addr = mock.address_string();
    let p = lnc::Producer::new(&Config::from_pairs([("bootstrap.servers", addr.as_str())]).unwrap()).unwrap();
    for i in 0..4 {
        let t = mock.create_topic(&format!("t-{i}")).unwrap();
        for _ in 0..2000 {
            p.send(t, &lnc::Message::raw(b"0123456789"), 0).unwrap();
        }
    }
    assert_eq!(p.flush(Duration::from_secs(10)).unwrap(), 0);
    mock
}

#[test]
fn calls_race_close_and_crash() {
    bounded(120, || {
        let mock = broker_with_data();
        let addr = mock.address_string();
        let survivor = member(&addr, "survivor");
        for round in 0..6 {
            let g = member(&addr, &format!("victim-{round}"));
            let stop = Arc::new(AtomicBool::new(false));
            let mut threads = Vec::new();
            for k in 0..4 {
                let (g, stop) = (g.clone(), stop.clone());
                threads.push(std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match k {
                            0 | 1 => match g.poll(Duration::from_millis(20)) {
                                Ok(_) => {}
                                Err(e) => {
                                    assert_eq!(e.code, ErrorCode::Closed, "{e}");
                                    return;
                                }
                            },
                            2 => {
                                let _ = g.assignment();
                                let _ = g.metrics();
                            }
                            _ => {
                                let _ = g.member_id();
                                let _ = g.eventfd();
                                std::thread::yield_now();
                            }
                        }
                    }
                }));
            }
            std::thread::sleep(Duration::from_millis(50 + 40 * round));
            // Two closers at once (or a crash racing a close): both return, the first wins.
            let g2 = g.clone();
            let closer = std::thread::spawn(move || {
                if round % 2 == 0 {
                    g2.crash()
                } else {
                    g2.close(Duration::from_secs(10)).unwrap()
                }
            });
            let _ = g.close(Duration::from_secs(10));
            closer.join().unwrap();
            assert_eq!(g.poll(Duration::ZERO).unwrap_err().code, ErrorCode::Closed);
            assert!(g.close(Duration::from_secs(1)).is_ok(), "close is idempotent");
            stop.store(true, Ordering::Relaxed);
            for t in threads {
                t.join().unwrap();
            }
            assert!(g.assignment().is_empty());
        }
        // The survivor ends up with every topic.
        let t0 = std::time::Instant::now();
        while survivor.assignment().len() != 4 {
            let _ = survivor.poll(Duration::from_millis(20)).unwrap();
            assert!(t0.elapsed() < Duration::from_secs(30), "survivor owns {:?}", survivor.assignment());
        }
        survivor.close(Duration::from_secs(10)).unwrap();
    });
}

struct Ptr(*mut lnc_group_consumer_t);
// SAFETY: the handle is thread-safe; free waits for calls in progress (the property under test).
unsafe impl Send for Ptr {}
unsafe impl Sync for Ptr {}

#[test]
fn c_free_wakes_polls_in_progress() {
    bounded(120, || {
        let mock = broker_with_data();
        let addr = mock.address_string();
        for round in 0..4 {
            let conf = lnc_conf_new();
            for (k, v) in pairs(&addr, &format!("c-{round}")) {
                let (k, v) = (CString::new(k).unwrap(), CString::new(v).unwrap());
                // SAFETY: live conf, NUL-terminated strings.
                assert_eq!(
                    unsafe { lnc_conf_set(conf, k.as_ptr(), v.as_ptr(), std::ptr::null_mut(), 0) },
                    lnc_err_t::LNC_ERR_OK
                );
            }
            let mut g = std::ptr::null_mut();
            // SAFETY: valid pointers.
            assert_eq!(unsafe { lnc_group_consumer_new(conf, &mut g, std::ptr::null_mut()) }, lnc_err_t::LNC_ERR_OK);
            let h = Arc::new(Ptr(g));
            let started = Arc::new(std::sync::Barrier::new(4));
            let mut threads = Vec::new();
            // Each thread makes one long blocking poll that only free can cut short (a call
            // started after free returned would use freed memory: the caller's bug in any C API).
            for _ in 0..3 {
                let (h, started) = (h.clone(), started.clone());
                threads.push(std::thread::spawn(move || {
                    started.wait();
                    let mut ev = std::ptr::null_mut();
                    // SAFETY: the handle is live until free returns, and free waits for this call.
                    let rc = unsafe { lnc_group_consumer_poll(h.0, 30_000, &mut ev, std::ptr::null_mut()) };
                    // SAFETY: NULL or a batch from poll.
                    unsafe { lnc_group_events_free(ev) };
                    rc
                }));
            }
            started.wait();
            std::thread::sleep(Duration::from_millis(200 + 30 * round as u64));
            let t0 = std::time::Instant::now();
            // SAFETY: freed once, while the threads are inside poll.
            assert_eq!(unsafe { lnc_group_consumer_free(h.0) }, lnc_err_t::LNC_ERR_OK);
            assert!(t0.elapsed() < Duration::from_secs(15), "free waited {:?}", t0.elapsed());
            for t in threads {
                // A poll returns events (assignment changes, records) or CLOSED once free began.
                let rc = t.join().unwrap();
                assert!(matches!(rc, lnc_err_t::LNC_ERR_OK | lnc_err_t::LNC_ERR_CLOSED), "{rc:?}");
            }
        }
    });
}
