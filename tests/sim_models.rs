//! The simulator's models through the public API: TCP between hosts (echo, a crash resetting
//! the peer, a partition), and (once wired) a host's disk. Every world runs through
//! `check_replay` (twice under `KQIO_SIM_CHECK_REPLAY=1`); loops take their seeds from `seeds`.

use std::net::SocketAddr;

use kqio::net::{TcpListener, TcpStream};
use kqio::sim::{check_replay, seeds, SimOptions};
use kqio::time::{timeout, Duration, Timeout};
use kqio::IoRef;

async fn echo_server(io: IoRef) {
    let listener = TcpListener::bind(&io, "0.0.0.0:7000".parse().unwrap()).await.unwrap();
    loop {
        let (conn, _) = listener.accept().await.unwrap();
        io.r#async(async move {
            let mut buf = [0u8; 1024];
            loop {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if conn.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        })
        .detach();
    }
}

#[test]
fn tcp_echo_between_two_hosts_by_name() {
    for seed in seeds(0..5) {
        check_replay(SimOptions { seed, ..Default::default() }, |sim| {
            sim.host("server", echo_server);
            let c = sim.client("client", |io: IoRef| async move {
                let found = io.lookup("server", 7000).await.unwrap();
                let addr: SocketAddr = found.addresses[0];
                // The server may not listen yet: retry a refused connect.
                let conn = loop {
                    match TcpStream::connect(&io, addr).await {
                        Ok(c) => break c,
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                            io.sleep(Timeout::after(Duration::MILLISECOND)).await.unwrap();
                        }
                        Err(e) => panic!("{e}"),
                    }
                };
                let msg: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
                let writer = {
                    let msg = msg.clone();
                    let (r, w) = conn.into_split();
                    let h = io.r#async(async move {
                        w.write_all(&msg).await.unwrap();
                        w
                    });
                    (r, h)
                };
                let (r, h) = writer;
                let mut got = vec![0u8; msg.len()];
                r.read_exact(&mut got).await.unwrap();
                drop(h.await);
                (got == msg, addr)
            });
            let report = sim.run().unwrap();
            let (same, addr) = c.output().unwrap();
            assert!(same, "seed {seed}: the echo matches");
            assert_eq!(addr.ip(), sim.address(sim.host_named("server").unwrap()));
            assert!(report.elapsed > Duration::ZERO, "the network has latency");
            report
        });
    }
}

#[test]
fn a_crashed_server_resets_its_peer_and_a_partition_times_out_a_connect() {
    check_replay(SimOptions { seed: 3, ..Default::default() }, |sim| {
        let server = sim.host("server", echo_server);
        let c = sim.client("client", |io: IoRef| async move {
            let addr: SocketAddr = io.lookup("server", 7000).await.unwrap().addresses[0];
            io.sleep(Timeout::after(Duration::MILLISECOND)).await.unwrap();
            let conn = TcpStream::connect(&io, addr).await.unwrap();
            conn.write_all(b"hi").await.unwrap();
            let mut b = [0u8; 2];
            conn.read_exact(&mut b).await.unwrap();
            // The server crashes at 1 s (below): the next read fails.
            let mut more = [0u8; 1];
            let after_crash = conn.read(&mut more).await;
            // At 3 s the server has restarted (at 2 s) behind a partition: a connect does not
            // complete.
            io.sleep(Timeout::after(Duration::from_secs(2))).await.unwrap();
            let cut = timeout(
                &*io,
                Timeout::after(Duration::from_secs(5)),
                TcpStream::connect(&io, addr),
            )
            .await;
            (after_crash.map_err(|e| e.kind()), cut.map(|r| r.map(drop).map_err(|e| e.kind())))
        });
        sim.crash_at(server, Duration::SECOND);
        sim.run_for(Duration::from_secs(2)).unwrap();
        sim.restart(server);
        sim.partition(server, c.host());
        let report = sim.run().unwrap();
        let (after_crash, cut) = c.output().unwrap();
        assert_eq!(
            after_crash,
            Err(std::io::ErrorKind::ConnectionReset),
            "the crash resets the peer"
        );
        assert!(cut.is_err(), "the partition held the connect past the timeout: {cut:?}");
        assert!(report.elapsed >= Duration::from_secs(8), "{}", report.elapsed);
    });
}

#[test]
fn synced_data_survives_a_crash_and_unsynced_data_does_not() {
    use kqio::fs::{CreateFlags, Dir, OpenFlags};
    check_replay(SimOptions { seed: 4, ..Default::default() }, |sim| {
        let db = sim.host("db", |io: IoRef| async move {
            let root = Dir::cwd(&io);
            if root.stat_file("durable").await.is_err() {
                // First life: one file synced (with its directory), one not.
                let f = root.create_file("durable", CreateFlags::default()).await.unwrap();
                f.write_all(b"kept").await.unwrap();
                f.sync().await.unwrap();
                let d = root.open_file(".", OpenFlags::default()).await.unwrap();
                d.sync().await.unwrap();
                let g = root.create_file("volatile", CreateFlags::default()).await.unwrap();
                g.write_all(b"lost").await.unwrap();
            }
            io.sleep(Timeout::None).await.ok();
        });
        sim.run_for(Duration::SECOND).unwrap();
        sim.crash(db);
        sim.restart(db);
        let io = sim.io(db);
        let c = sim.client("reader", move |_: IoRef| async move {
            // Reads the db host's disk through the db host's own IoRef.
            let root = Dir::cwd(&io);
            let durable = root.read_file("durable").await.unwrap();
            let volatile = root.stat_file("volatile").await.map(|_| ()).map_err(|e| e.kind());
            (durable, volatile)
        });
        sim.run().unwrap();
        let (durable, volatile) = c.output().unwrap();
        assert_eq!(durable, b"kept");
        assert_eq!(volatile, Err(kqio::fs::ErrorKind::NotFound));
    });
}
