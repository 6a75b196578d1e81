//! The mock broker's request handling, over a real loopback socket: the input becomes a stream of
//! well-formed frames (so the handlers behind the framing checks are reached) of every kind, with
//! arbitrary codes and payloads, followed by raw bytes. Any panic in a mock thread aborts (the
//! libFuzzer panic hook), and the mock must answer or close — never hang.
#![no_main]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use lnc::mock::{MockBroker, MockConfig};
use lnc::wire::{encode_frame, flags, Checksum};

/// The broker and how many inputs it has served: it is replaced every 20,000 inputs so the topics
/// and data the fuzzer creates do not accumulate for the whole run.
static MOCK: Mutex<Option<(MockBroker, u32)>> = Mutex::new(None);

fn fresh_mock() -> MockBroker {
    let m = MockBroker::start(MockConfig { ack_delay: Duration::ZERO, segment_bytes: 4096, ..MockConfig::default() })
        .expect("mock starts");
    m.create_topic("fuzz").expect("topic");
    m.create_topic("other").expect("topic");
    m
}

fuzz_target!(|data: &[u8]| {
    let mut guard = MOCK.lock().unwrap_or_else(|e| e.into_inner());
    let slot = guard.get_or_insert_with(|| (fresh_mock(), 0));
    slot.1 += 1;
    if slot.1 > 20_000 {
        *slot = (fresh_mock(), 1);
    }
    let m = &slot.0;
    let mut out = Vec::new();
    let mut d = data;
    // Records: kind, code, payload length, payload.
    while d.len() >= 3 {
        let (kind, code) = (d[0], d[1]);
        let len = (d[2] as usize).min(d.len() - 3);
        let payload = &d[3..3 + len];
        d = &d[3 + len..];
        let (fl, batch_id, topic) = match kind % 5 {
            0 | 1 => (flags::CONTROL, code as u64, 0),
            2 => (flags::INGEST, code as u64, (code % 4) as u32),
            3 => (flags::KEEPALIVE, 0, 0),
            _ => (kind, code as u64, code as u32 % 3), // any flags: classification order
        };
        encode_frame(&mut out, Checksum::Crc32, fl, batch_id, 0, 1, topic, payload);
    }
    out.extend_from_slice(d); // trailing raw bytes: possibly a partial or broken frame
    let Ok(mut s) = TcpStream::connect(m.address()) else { return };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.write_all(&out);
    let _ = s.shutdown(Shutdown::Write);
    let mut buf = [0u8; 65536];
    // The mock answers what it can and closes at EOF (or at a fatal frame): read to the end. A
    // 10 s stall here means the mock hung on this input.
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                panic!("mock did not answer or close within 10 s")
            }
            Err(_) => break,
        }
    }
    if data.first() == Some(&0xA5) {
        m.restart();
    } else if data.first() == Some(&0x5A) {
        m.run_retention();
    }
});
