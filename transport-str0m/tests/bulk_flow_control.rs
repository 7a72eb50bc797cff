//! Bulk transfer under the engine's credit rule: never more than
//! `send_window` bytes unreported by `Sent`; str0m's SCTP buffer fills and
//! the queue resumes on its own; every frame arrives whole and in order and
//! every byte is credited back exactly once.

mod common;

use std::time::{Duration, Instant};

use common::{frame, Got, Net, TestResult};
use overlay_core::{ConnId, Transport, TransportCommand as Cmd, TransportEvent as Ev};

#[tokio::test]
async fn bulk_transfer_respects_credit_and_loses_nothing() -> TestResult {
    let mut net = Net::bind(2)?;
    let c = ConnId(1);
    net.connect(0, c, 1, c)?;
    net.wait_open(vec![(0, c), (1, c)]).await?;

    const FRAMES: u32 = 2_000;
    const SIZE: usize = 16 * 1024;
    let window = net.nodes[0].send_window();
    let (mut in_flight, mut next, mut received, mut credited) = (0usize, 0u32, 0u32, 0usize);
    let mut max_in_flight = 0;
    let start = Instant::now();
    while received < FRAMES || credited < FRAMES as usize * SIZE {
        while next < FRAMES && in_flight + SIZE <= window {
            net.cmd(
                0,
                Cmd::Send {
                    conn: c,
                    frame: frame(next, SIZE),
                },
            )?;
            in_flight += SIZE;
            next += 1;
        }
        max_in_flight = max_in_flight.max(in_flight);
        match net.next_within(Duration::from_secs(20)).await? {
            Got::Event(0, Ev::Sent { bytes, .. }) => {
                assert!(bytes <= in_flight, "Sent reports more than was handed over");
                in_flight -= bytes;
                credited += bytes;
            }
            Got::Event(1, Ev::Frame { frame: f, .. }) => {
                assert_eq!(
                    f,
                    frame(received, SIZE),
                    "frame {received} wrong or out of order"
                );
                received += 1;
            }
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    let took = start.elapsed();
    assert_eq!(credited, FRAMES as usize * SIZE);
    assert!(max_in_flight <= window);
    println!(
        "{} MiB in {:.2} s ({:.1} MB/s, this build's profile)",
        (FRAMES as usize * SIZE) >> 20,
        took.as_secs_f64(),
        (FRAMES as usize * SIZE) as f64 / took.as_secs_f64() / 1e6
    );
    let stats = net.nodes[1].stats();
    assert_eq!(stats.frames_in, u64::from(FRAMES));
    Ok(())
}
