//! Three `n2n peer` processes and one `n2n signal` process on loopback
//! (str0m backend): they join through the server, one bridges the other
//! two, messages flow; then the server is stopped and a new bridged
//! connection still forms between members.

mod common;

use common::{N2n, TestResult};

/// Start a peer and read its id.
fn peer(name: &str, url: &str, contact: Option<&str>) -> TestResult<(N2n, String)> {
    let mut args = vec![
        "peer",
        "--signal",
        url,
        "--room",
        "test",
        "--backend",
        "str0m",
        "--bind",
        "127.0.0.1",
        "--dying-timeout",
        "1",
    ];
    if let Some(c) = contact {
        args.extend(["--contact", c]);
    }
    let p = N2n::start(name, &args)?;
    let id = p
        .wait_prefix("id ")?
        .trim_start_matches("id ")
        .trim()
        .to_owned();
    Ok((p, id))
}

/// The ids `/peers` lists on `p` right now.
fn peers_of(p: &mut N2n) -> TestResult<Vec<String>> {
    p.send_line("/peers")?;
    let mut ids = Vec::new();
    loop {
        let line = p.wait_for("of /peers", |l| {
            l.starts_with("peer ") || l.starts_with("peers: ")
        })?;
        if line.starts_with("peers: ") {
            return Ok(ids);
        }
        ids.push(line);
    }
}

#[test]
fn three_peers_join_bridge_and_bridge_again_without_the_server() -> TestResult {
    let mut server = N2n::start("signal", &["signal", "--listen", "127.0.0.1:0"])?;
    let url = server
        .wait_prefix("listening on ")?
        .trim_start_matches("listening on ")
        .trim()
        .to_owned();

    let (mut a, ida) = peer("A", &url, None)?;
    a.wait_prefix("joined room test: alone")?;
    let (mut b, idb) = peer("B", &url, Some(&ida))?;
    b.wait_prefix(&format!("joined room test via {ida}"))?;
    let (mut c, idc) = peer("C", &url, Some(&ida))?;
    c.wait_prefix(&format!("joined room test via {ida}"))?;
    // A holds B and C in its inview.
    a.wait_prefix(&format!("arc opened in {idb}"))?;
    a.wait_prefix(&format!("arc opened in {idc}"))?;

    // A bridges B to C (ids by prefix, as a person types them).
    a.send_line(&format!("/bridge {} {}", &idb[..12], &idc[..12]))?;
    a.wait_prefix(&format!("bridged {idb} -> {idc}"))?;
    b.wait_prefix(&format!("arc opened out {idc}"))?;
    c.wait_prefix(&format!("arc opened in {idb}"))?;
    let on_b = peers_of(&mut b)?;
    assert!(
        on_b.iter()
            .any(|l| l.starts_with(&format!("peer {idc} out=1 in=0")) && l.contains("via=bridge:")),
        "{on_b:?}"
    );

    // Messages flow: B's line reaches its neighbours A and C.
    b.send_line("hello from B")?;
    b.wait_prefix("sent to 2 peers")?;
    c.wait_prefix(&format!("message from {idb}: hello from B"))?;
    a.wait_prefix(&format!("message from {idb}: hello from B"))?;

    // The server goes away; every member notices and carries on.
    server.kill()?;
    for p in [&a, &b, &c] {
        p.wait_prefix("signaling server lost")?;
    }

    // Close B-C (dying timeout 1 s), then A bridges C to B: a new
    // connection, set up through A with no server.
    b.send_line(&format!("/disconnect {idc}"))?;
    b.wait_prefix(&format!("disconnected -> {idc}"))?;
    c.wait_prefix(&format!("arc closed in {idb}"))?;
    let mut closed = false;
    for _ in 0..120 {
        if !peers_of(&mut b)?
            .iter()
            .any(|l| l.starts_with(&format!("peer {idc}")))
        {
            closed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(
        closed,
        "B's connection to C did not close after its dying timeout:\n{}",
        b.log()
    );
    a.send_line(&format!("/bridge {idc} {idb}"))?;
    a.wait_prefix(&format!("bridged {idc} -> {idb}"))?;
    c.wait_prefix(&format!("arc opened out {idb}"))?;
    b.wait_prefix(&format!("arc opened in {idc}"))?;
    let on_c = peers_of(&mut c)?;
    assert!(
        on_c.iter()
            .any(|l| l.starts_with(&format!("peer {idb} out=1 in=0"))
                && l.contains(&format!("via=bridge:{}", &ida[..10]))),
        "{on_c:?}"
    );
    c.send_line(&format!("/send {} after the server", &idb[..8]))?;
    b.wait_prefix(&format!("message from {idc}: after the server"))?;

    for p in [&mut a, &mut b, &mut c] {
        p.send_line("/quit")?;
        let status = p.wait_exit()?;
        assert!(
            status.success(),
            "{} exited with {status}:\n{}",
            p.name,
            p.log()
        );
    }
    Ok(())
}
