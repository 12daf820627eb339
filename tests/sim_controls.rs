//! The world's controls through `Sim`, checked by virtual timestamps: `step` one event at a
//! time, `pause_at`/`resume_at`, `clog`/`unclog`, `set_link`, `partition_one_way`,
//! `heal_link` and `heal_one_way`; and `fault_point`, never `true` on `Kqueue`. Every world runs
//! through `check_replay` (twice under `KQIO_SIM_CHECK_REPLAY=1`).
//!
//! Every link here has a fixed latency (no draw), so arrival times are exact: a datagram or a
//! segment sent at `t` over a 1 ms link is read at `t + 1 ms`, and a message a control held is
//! read one latency after the control that releases it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use kqio::net::{TcpListener, TcpStream, UdpSocket};
use kqio::sim::{check_replay, Latency, LinkOptions, NetOptions, Sim, SimError, SimOptions};
use kqio::time::{timeout, Clock, Duration, Timeout, Timestamp};
use kqio::{InitOptions, IoRef, Kqueue};

type Log<T> = Arc<Mutex<Vec<T>>>;

fn log<T>() -> Log<T> {
    Arc::new(Mutex::new(Vec::new()))
}

fn taken<T: Clone>(log: &Log<T>) -> Vec<T> {
    log.lock().unwrap().clone()
}

fn ms(n: i64) -> Duration {
    Duration::from_millis(n)
}

/// Virtual time since the world began, as the host's awake clock reads it.
fn now(io: &IoRef) -> Duration {
    Duration::from_nanos(io.now(Clock::Awake).as_nanos())
}

/// Sleeps until the awake clock reads `at` (since the world began).
async fn sleep_until(io: &IoRef, at: Duration) {
    let deadline = Timestamp::from_nanos(at.as_nanos());
    io.sleep(Timeout::at(deadline, Clock::Awake)).await.unwrap();
}

fn fixed(latency: Duration) -> LinkOptions {
    LinkOptions::remote().latency(Latency::Fixed(latency))
}

fn options(seed: u64) -> SimOptions {
    SimOptions { seed, ..Default::default() }
}

/// A world whose links between hosts all take exactly `latency` one way.
fn with_latency(seed: u64, latency: Duration) -> SimOptions {
    let net = NetOptions::default().link(fixed(latency));
    SimOptions { seed, net, ..Default::default() }
}

// ----- step -----

#[test]
fn step_takes_one_event_at_a_time() {
    check_replay(options(1), |sim| {
        let marks = log();
        let m = marks.clone();
        let c = sim.client("c", move |io: IoRef| async move {
            m.lock().unwrap().push(now(&io));
            io.sleep(Timeout::after(ms(1))).await.unwrap();
            m.lock().unwrap().push(now(&io));
            io.sleep(Timeout::after(ms(2))).await.unwrap();
            m.lock().unwrap().push(now(&io));
            7
        });
        let io = sim.io(c.host());
        let polls = || io.metrics().workers[0].polls;
        assert_eq!((sim.elapsed(), polls()), (Duration::ZERO, 0), "nothing ran before a step");
        assert!(taken(&marks).is_empty());

        // 1: the client's task runs, up to its first sleep.
        assert_eq!(sim.step(), Ok(true));
        assert_eq!((sim.elapsed(), polls()), (Duration::ZERO, 1));
        assert_eq!(taken(&marks), [Duration::ZERO]);
        // 2: no task is ready: time jumps to the sleep's deadline and its timer fires; no poll.
        assert_eq!(sim.step(), Ok(true));
        assert_eq!((sim.elapsed(), polls()), (ms(1), 1));
        assert_eq!(taken(&marks), [Duration::ZERO]);
        // 3: the woken task runs, up to its second sleep.
        assert_eq!(sim.step(), Ok(true));
        assert_eq!((sim.elapsed(), polls()), (ms(1), 2));
        assert_eq!(taken(&marks), [Duration::ZERO, ms(1)]);
        // 4: the second timer.
        assert_eq!(sim.step(), Ok(true));
        assert_eq!((sim.elapsed(), polls()), (ms(3), 2));
        // 5: the task ends.
        assert_eq!(sim.step(), Ok(true));
        assert_eq!((sim.elapsed(), polls()), (ms(3), 3));
        assert_eq!(taken(&marks), [Duration::ZERO, ms(1), ms(3)]);
        // Nothing left: `Ok(false)`, as often as asked, and time stays.
        assert_eq!(sim.step(), Ok(false));
        assert_eq!(sim.step(), Ok(false));
        assert_eq!(sim.elapsed(), ms(3));

        // `run` after the client ended reports at once: the five steps above, nothing more.
        let report = sim.run().unwrap();
        assert_eq!((report.steps, report.elapsed), (5, ms(3)));
        assert_eq!(c.output(), Some(7));
    });
}

#[test]
fn step_polls_one_ready_task_per_step() {
    check_replay(options(2), |sim| {
        let ran = log();
        let r = ran.clone();
        let host = sim.host("h", move |io: IoRef| {
            let r = r.clone();
            async move {
                for i in 0..4u32 {
                    let r = r.clone();
                    io.r#async(async move { r.lock().unwrap().push(i) }).detach();
                }
            }
        });
        let io = sim.io(host);
        assert_eq!(sim.step(), Ok(true), "the program's task spawns four and ends");
        assert!(taken(&ran).is_empty());
        for n in 1..=4 {
            assert_eq!(sim.step(), Ok(true));
            assert_eq!(taken(&ran).len(), n, "one task per step");
            assert_eq!(io.metrics().workers[0].polls, 1 + n as u64);
        }
        assert_eq!(sim.step(), Ok(false));
        assert_eq!(sim.elapsed(), Duration::ZERO, "no timer: time never moved");
        let mut order = taken(&ran);
        order.sort();
        assert_eq!(order, [0, 1, 2, 3], "each ran once, in an order the seed drew");
    });
}

#[test]
fn step_fails_on_a_timer_beyond_the_time_limit() {
    check_replay(SimOptions { seed: 3, max_time: Duration::SECOND, ..Default::default() }, |sim| {
        let c = sim.client("c", |io: IoRef| async move {
            io.sleep(Timeout::after(ms(2000))).await.unwrap();
        });
        assert_eq!(sim.step(), Ok(true));
        assert_eq!(sim.step(), Err(SimError::TimeLimit { seed: 3, max_time: Duration::SECOND }));
        assert_eq!(sim.elapsed(), Duration::ZERO, "time did not move past the limit");
        assert_eq!(c.output(), None);
    });
}

// ----- pause_at, resume_at -----

/// A host program that wakes every 10 ms of virtual time and logs when it ran.
fn ticker(log: Log<Duration>) -> impl Fn(IoRef) -> futures::future::BoxFuture<'static, ()> {
    move |io: IoRef| {
        let log = log.clone();
        Box::pin(async move {
            loop {
                io.sleep(Timeout::after(ms(10))).await.unwrap();
                log.lock().unwrap().push(now(&io));
            }
        })
    }
}

#[test]
fn pause_at_and_resume_at_stop_a_host_between_virtual_times() {
    check_replay(options(4), |sim| {
        let (a_log, b_log) = (log(), log());
        let a = sim.host("a", ticker(a_log.clone()));
        let b = sim.host("b", ticker(b_log.clone()));
        sim.pause_at(a, ms(25));
        sim.resume_at(a, ms(100));

        sim.run_for(ms(50)).unwrap();
        assert!(!sim.is_up(a), "paused at 25 ms");
        assert!(sim.is_up(b));
        assert_eq!(taken(&a_log), [ms(10), ms(20)]);
        assert_eq!(taken(&b_log), [ms(10), ms(20), ms(30), ms(40), ms(50)]);

        sim.run_for(ms(100)).unwrap();
        assert!(sim.is_up(a), "resumed at 100 ms");
        // The sleep due at 30 ms fired during the pause; its task waited, and ran at the resume.
        // No timestamp of `a` falls in 25..100 ms.
        assert_eq!(taken(&a_log), [10, 20, 100, 110, 120, 130, 140, 150].map(ms));
        assert_eq!(taken(&b_log), (1..=15).map(|k| ms(10 * k)).collect::<Vec<_>>());
    });
}

// ----- UDP helpers -----

const PORT: u16 = 9000;

/// Binds UDP `PORT` and logs `(when, first byte)` of every datagram received.
async fn udp_sink(io: IoRef, log: Log<(Duration, u8)>) {
    let socket = UdpSocket::bind(&io, SocketAddr::from(([0, 0, 0, 0], PORT))).unwrap();
    let mut buf = [0u8; 64];
    loop {
        let (n, _) = socket.recv_from(&mut buf).await.unwrap();
        assert_eq!(n, 1);
        log.lock().unwrap().push((now(&io), buf[0]));
    }
}

/// Binds UDP `PORT` and sends every datagram back to its sender.
async fn udp_echo(io: IoRef) {
    let socket = UdpSocket::bind(&io, SocketAddr::from(([0, 0, 0, 0], PORT))).unwrap();
    let mut buf = [0u8; 64];
    loop {
        let (n, from) = socket.recv_from(&mut buf).await.unwrap();
        socket.send_to(&buf[..n], from).await.unwrap();
    }
}

// ----- clog, unclog -----

#[test]
fn clog_delays_datagrams_until_unclog() {
    check_replay(with_latency(5, ms(1)), |sim| {
        let received = log();
        let r = received.clone();
        let b = sim.host("b", move |io| udp_sink(io, r.clone()));
        let to = SocketAddr::new(sim.address(b), PORT);
        let a = sim
            .client("a", move |io: IoRef| async move {
                let socket = UdpSocket::bind(&io, SocketAddr::from(([0, 0, 0, 0], 0))).unwrap();
                for (at, byte) in [(1, 1u8), (10, 2), (12, 3)] {
                    sleep_until(&io, ms(at)).await;
                    socket.send_to(&[byte], to).await.unwrap();
                }
            })
            .host();

        sim.run_for(ms(5)).unwrap();
        assert_eq!(taken(&received), [(ms(2), 1)], "one link latency");
        sim.clog(a);
        sim.run_for(ms(15)).unwrap();
        assert_eq!(sim.elapsed(), ms(20));
        assert_eq!(taken(&received), [(ms(2), 1)], "sent at 10 and 12 ms, held by the clog");
        sim.unclog(a);
        sim.run_for(ms(10)).unwrap();
        // Released at 20 ms, in order, each after a fresh latency.
        assert_eq!(taken(&received), [(ms(2), 1), (ms(21), 2), (ms(21), 3)]);
    });
}

#[test]
fn clog_of_the_receiver_delays_stream_data_until_unclog() {
    check_replay(with_latency(6, ms(1)), |sim| {
        let (at_b, at_a) = (log(), log());
        let (lb, la) = (at_b.clone(), at_a.clone());
        // `b` echoes each read at once, and logs when it read.
        let b = sim.host("b", move |io: IoRef| {
            let lb = lb.clone();
            async move {
                let listener =
                    TcpListener::bind(&io, "0.0.0.0:7000".parse().unwrap()).await.unwrap();
                let (conn, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 64];
                loop {
                    let n = conn.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    lb.lock().unwrap().push((now(&io), buf[..n].to_vec()));
                    conn.write_all(&buf[..n]).await.unwrap();
                }
            }
        });
        let to = SocketAddr::new(sim.address(b), 7000);
        sim.client("a", move |io: IoRef| async move {
            sleep_until(&io, ms(1)).await;
            let conn = TcpStream::connect(&io, to).await.unwrap();
            assert_eq!(now(&io), ms(3), "a connect takes one round trip");
            let mut buf = [0u8; 64];
            for (at, msg) in [(10, b"x"), (20, b"y")] {
                sleep_until(&io, ms(at)).await;
                conn.write_all(msg).await.unwrap();
                let n = conn.read(&mut buf).await.unwrap();
                la.lock().unwrap().push((now(&io), buf[..n].to_vec()));
            }
        });
        sim.run_for(ms(15)).unwrap();
        assert_eq!(taken(&at_b), [(ms(11), b"x".to_vec())]);
        assert_eq!(taken(&at_a), [(ms(12), b"x".to_vec())], "a round trip of 2 ms");
        sim.clog(b);
        sim.run_for(ms(15)).unwrap();
        assert_eq!(taken(&at_b).len(), 1, "written at 20 ms, held by the clog");
        sim.unclog(b);
        sim.run().unwrap();
        assert_eq!(taken(&at_b), [(ms(11), b"x".to_vec()), (ms(31), b"y".to_vec())]);
        assert_eq!(taken(&at_a), [(ms(12), b"x".to_vec()), (ms(32), b"y".to_vec())]);
    });
}

// ----- set_link, heal_link -----

/// A client that pings `targets` by UDP, round `k` at `200 * k + 10` ms (the `i`th target 60 ms
/// after the first), each ping with a 50 ms timeout, and logs the round trips measured on the
/// awake clock (`None`: lost). Every round is over by `200 * k + 130` ms.
fn pinger(
    sim: &mut Sim,
    name: &str,
    targets: Vec<SocketAddr>,
    rounds: i64,
) -> kqio::sim::Client<Vec<Vec<Option<Duration>>>> {
    sim.client(name, move |io: IoRef| async move {
        let socket = UdpSocket::bind(&io, SocketAddr::from(([0, 0, 0, 0], 0))).unwrap();
        let mut out = Vec::new();
        for k in 0..rounds {
            let mut round = Vec::new();
            for (i, to) in targets.iter().enumerate() {
                sleep_until(&io, ms(200 * k + 10 + 60 * i as i64)).await;
                let start = io.now(Clock::Awake);
                socket.send_to(&[k as u8], *to).await.unwrap();
                let mut buf = [0u8; 8];
                let reply = timeout(&*io, Timeout::after(ms(50)), socket.recv_from(&mut buf)).await;
                round.push(reply.ok().map(|r| {
                    let (n, from) = r.unwrap();
                    assert_eq!((n, buf[0], from), (1, k as u8, *to));
                    io.now(Clock::Awake).saturating_duration_since(start)
                }));
            }
            out.push(round);
        }
        out
    })
}

#[test]
fn set_link_latency_shows_in_the_round_trip_time() {
    check_replay(with_latency(7, ms(1)), |sim| {
        let b = sim.host("b", udp_echo);
        let to = SocketAddr::new(sim.address(b), PORT);
        let a = pinger(sim, "a", vec![to], 4);
        sim.run_for(ms(150)).unwrap();
        sim.set_link(a.host(), b, fixed(ms(3)));
        sim.run_for(ms(200)).unwrap();
        // Either order of the pair names the same link.
        sim.set_link(b, a.host(), fixed(ms(10)));
        sim.run_for(ms(200)).unwrap();
        sim.set_link(a.host(), b, LinkOptions::remote().latency(Latency::uniform(ms(4), ms(4))));
        sim.run().unwrap();
        let rtts: Vec<_> = a.output().unwrap().into_iter().map(|r| r[0]).collect();
        assert_eq!(rtts, [Some(ms(2)), Some(ms(6)), Some(ms(20)), Some(ms(8))]);
    });
}

#[test]
fn heal_link_restores_only_the_link_it_names() {
    check_replay(with_latency(8, ms(1)), |sim| {
        let b = sim.host("b", udp_echo);
        let c = sim.host("c", udp_echo);
        let targets =
            vec![SocketAddr::new(sim.address(b), PORT), SocketAddr::new(sim.address(c), PORT)];
        let a = pinger(sim, "a", targets, 3);
        sim.run_for(ms(150)).unwrap();
        sim.partition(a.host(), b);
        sim.partition(a.host(), c);
        sim.run_for(ms(200)).unwrap();
        sim.heal_link(b, a.host());
        sim.run().unwrap();
        let rounds = a.output().unwrap();
        assert_eq!(
            rounds,
            [
                vec![Some(ms(2)), Some(ms(2))],
                vec![None, None],
                vec![Some(ms(2)), None], // a-c stays cut
            ]
        );
    });
}

// ----- partition_one_way, heal_one_way -----

/// A host that binds UDP `PORT`, logs `(when, byte)` of what it receives, and sends `k` to
/// the host named `other` at `100 * k + 10` ms, for `k` in `0..rounds`.
fn udp_peer(
    other: &'static str,
    rounds: u8,
    log: Log<(Duration, u8)>,
) -> impl Fn(IoRef) -> futures::future::BoxFuture<'static, ()> {
    move |io: IoRef| {
        let log = log.clone();
        Box::pin(async move {
            let to = io.lookup(other, PORT).await.unwrap().addresses[0];
            let socket = UdpSocket::bind(&io, SocketAddr::from(([0, 0, 0, 0], PORT))).unwrap();
            let (io2, socket) = (io.clone(), Arc::new(socket));
            let s2 = socket.clone();
            io.r#async(async move {
                let mut buf = [0u8; 8];
                loop {
                    let (_, _) = s2.recv_from(&mut buf).await.unwrap();
                    log.lock().unwrap().push((now(&io2), buf[0]));
                }
            })
            .detach();
            for k in 0..rounds {
                sleep_until(&io, ms(100 * i64::from(k) + 10)).await;
                socket.send_to(&[k], to).await.unwrap();
            }
        })
    }
}

#[test]
fn a_one_way_partition_drops_datagrams_one_way_only_and_heals_one_way() {
    check_replay(with_latency(9, ms(1)), |sim| {
        let (at_a, at_b) = (log(), log());
        let a = sim.host("a", udp_peer("b", 5, at_a.clone()));
        let b = sim.host("b", udp_peer("a", 5, at_b.clone()));
        // Round 0 (10 ms): a -> b cut, b -> a open.
        sim.partition_one_way(a, b);
        sim.run_for(ms(50)).unwrap();
        // Round 1 (110 ms): healed.
        sim.heal_one_way(a, b);
        sim.run_for(ms(100)).unwrap();
        // Round 2 (210 ms): cut both ways.
        sim.partition(a, b);
        sim.run_for(ms(100)).unwrap();
        // Round 3 (310 ms): b -> a healed, a -> b still cut.
        sim.heal_one_way(b, a);
        sim.run_for(ms(100)).unwrap();
        // Round 4 (410 ms): both healed.
        sim.heal_one_way(a, b);
        sim.run_for(ms(100)).unwrap();
        assert_eq!(taken(&at_a), [(ms(11), 0), (ms(111), 1), (ms(311), 3), (ms(411), 4)]);
        assert_eq!(taken(&at_b), [(ms(111), 1), (ms(411), 4)]);
    });
}

/// One end of a TCP connection: logs `(when, bytes)` of each read, and writes each message
/// of `plan` at its time, logging when the write returned.
async fn tcp_end(
    io: IoRef,
    conn: TcpStream,
    plan: Vec<(i64, &'static [u8])>,
    reads: Log<(Duration, Vec<u8>)>,
    writes: Log<Duration>,
) {
    let (r, w) = conn.into_split();
    let io2 = io.clone();
    io.r#async(async move {
        let mut buf = [0u8; 64];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => reads.lock().unwrap().push((now(&io2), buf[..n].to_vec())),
            }
        }
    })
    .detach();
    for (at, msg) in plan {
        sleep_until(&io, ms(at)).await;
        w.write_all(msg).await.unwrap();
        writes.lock().unwrap().push(now(&io));
    }
    futures::future::pending::<()>().await;
}

#[derive(Default, Clone)]
struct EndLogs {
    reads: Log<(Duration, Vec<u8>)>,
    writes: Log<Duration>,
}

fn reads(l: &EndLogs) -> Vec<(Duration, Vec<u8>)> {
    taken(&l.reads)
}

#[test]
fn a_one_way_partition_holds_stream_data_one_way_only() {
    // What the model does with an established connection when only a -> b is cut: a's writes
    // return at once (into the send buffer and b's window, as TCP would) but are held, as
    // retransmissions would be, until the cut heals; b's writes reach a with the link's
    // latency (the model has no ACKs for the cut direction to lose).
    check_replay(with_latency(10, ms(1)), |sim| {
        let (la, lb) = (EndLogs::default(), EndLogs::default());
        let plan: Vec<(i64, &'static [u8])> = vec![(10, b"0"), (30, b"1"), (40, b"2"), (60, b"3")];
        let (plan_a, plan_b) = (plan.clone(), plan);
        let lb2 = lb.clone();
        let b = sim.host("b", move |io: IoRef| {
            let (lb, plan) = (lb2.clone(), plan_b.clone());
            async move {
                let listener =
                    TcpListener::bind(&io, "0.0.0.0:7000".parse().unwrap()).await.unwrap();
                let (conn, _) = listener.accept().await.unwrap();
                tcp_end(io, conn, plan, lb.reads, lb.writes).await;
            }
        });
        let to = SocketAddr::new(sim.address(b), 7000);
        let la2 = la.clone();
        let a = sim.host("a", move |io: IoRef| {
            let (la, plan) = (la2.clone(), plan_a.clone());
            async move {
                sleep_until(&io, ms(1)).await;
                let conn = TcpStream::connect(&io, to).await.unwrap();
                tcp_end(io, conn, plan, la.reads, la.writes).await;
            }
        });
        sim.run_for(ms(20)).unwrap();
        sim.partition_one_way(a, b);
        sim.run_for(ms(30)).unwrap();
        sim.heal_one_way(a, b);
        sim.run_for(ms(50)).unwrap();

        let writes = [10, 30, 40, 60].map(ms);
        assert_eq!(taken(&la.writes), writes, "a's writes never waited on the cut");
        assert_eq!(taken(&lb.writes), writes);
        let v = |s: &[u8]| s.to_vec();
        assert_eq!(
            reads(&la),
            [(ms(11), v(b"0")), (ms(31), v(b"1")), (ms(41), v(b"2")), (ms(61), v(b"3"))],
            "b -> a was never cut"
        );
        // Written at 30 and 40 ms, held, released in order by the heal at 50 ms: both arrive at
        // 51 ms, and one read takes them.
        assert_eq!(reads(&lb), [(ms(11), v(b"0")), (ms(51), v(b"12")), (ms(61), v(b"3"))]);
    });
}

#[test]
fn a_writer_across_a_one_way_cut_fills_its_window_then_waits_for_the_heal() {
    // The held bytes count against the writer's send buffer plus the peer's receive window:
    // with 4 KiB of each, 8 KiB are accepted across the cut, then writes wait.
    let net = NetOptions::default().link(fixed(ms(1))).send_buffer(4096).receive_buffer(4096);
    check_replay(SimOptions { seed: 13, net, ..Default::default() }, |sim| {
        let at_b = log();
        let lb = at_b.clone();
        let b = sim.host("b", move |io: IoRef| {
            let lb = lb.clone();
            async move {
                let listener =
                    TcpListener::bind(&io, "0.0.0.0:7000".parse().unwrap()).await.unwrap();
                let (conn, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = conn.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    lb.lock().unwrap().push((now(&io), n));
                }
            }
        });
        let to = SocketAddr::new(sim.address(b), 7000);
        let a = sim.client("a", move |io: IoRef| async move {
            sleep_until(&io, ms(1)).await;
            let conn = TcpStream::connect(&io, to).await.unwrap();
            sleep_until(&io, ms(10)).await;
            let data = vec![7u8; 20_000];
            let mut sent = 0;
            // Write until a write waits 10 ms.
            while let Ok(n) = timeout(&*io, Timeout::after(ms(10)), conn.write(&data[sent..])).await
            {
                sent += n.unwrap();
            }
            let stuck = (now(&io), sent);
            conn.write_all(&data[sent..]).await.unwrap();
            (stuck, now(&io))
        });
        sim.run_for(ms(5)).unwrap();
        sim.partition_one_way(a.host(), b);
        sim.run_for(ms(45)).unwrap();
        assert!(taken(&at_b).is_empty(), "nothing crossed the cut");
        sim.heal_one_way(a.host(), b);
        sim.run().unwrap();
        // The client ends once its last bytes are accepted; `b` reads them a latency later.
        sim.run_for(ms(10)).unwrap();
        let (stuck, done) = a.output().unwrap();
        assert_eq!(stuck, (ms(20), 8192), "8 KiB accepted at 10 ms, then a write waited");
        // The held 8 KiB arrive one latency after the heal; each read reopens the window at once
        // (no ACK latency), so `a` writes the next 8 KiB then, and its last 3,616 bytes at 52 ms.
        assert_eq!(taken(&at_b), [(ms(51), 8192), (ms(52), 8192), (ms(53), 3616)]);
        assert_eq!(done, ms(52));
    });
}

#[test]
fn a_connect_across_a_one_way_partition_times_out_either_way_until_healed() {
    // A connect needs both ways: the SYN from `a` is cut; from `b` the SYN crosses but its
    // answer does not. Both retry (1 s, then 2 s later) and time out at `connect_timeout`.
    let net = NetOptions::default().link(fixed(ms(1))).connect_timeout(Duration::from_secs(3));
    check_replay(SimOptions { seed: 11, net, ..Default::default() }, |sim| {
        async fn serve(io: IoRef) {
            let listener = TcpListener::bind(&io, "0.0.0.0:7000".parse().unwrap()).await.unwrap();
            loop {
                let (conn, _) = listener.accept().await.unwrap();
                drop(conn);
            }
        }
        type Outcome = (Duration, Result<(), std::io::ErrorKind>);
        fn connector(
            other: &'static str,
            log: Log<Outcome>,
        ) -> impl Fn(IoRef) -> futures::future::BoxFuture<'static, ()> {
            move |io: IoRef| {
                let log = log.clone();
                Box::pin(async move {
                    let io2 = io.clone();
                    io.r#async(serve(io2)).detach();
                    let to = io.lookup(other, 7000).await.unwrap().addresses[0];
                    for at in [100, 10_000] {
                        sleep_until(&io, ms(at)).await;
                        let r = TcpStream::connect(&io, to).await.map(drop).map_err(|e| e.kind());
                        log.lock().unwrap().push((now(&io), r));
                    }
                })
            }
        }
        let (la, lb) = (log(), log());
        let a = sim.host("a", connector("b", la.clone()));
        let b = sim.host("b", connector("a", lb.clone()));
        sim.partition_one_way(a, b);
        sim.run_for(ms(5000)).unwrap();
        let timed_out = (ms(3100), Err(std::io::ErrorKind::TimedOut));
        assert_eq!(taken(&la), [timed_out]);
        assert_eq!(taken(&lb), [timed_out]);
        sim.heal_one_way(a, b);
        sim.run_for(ms(10_000)).unwrap();
        assert_eq!(taken(&la), [timed_out, (ms(10_002), Ok(()))], "one round trip");
        assert_eq!(taken(&lb), [timed_out, (ms(10_002), Ok(()))]);
    });
}

// ----- fault_point -----

#[test]
fn fault_points_never_fire_on_kqueue() {
    let rt = Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).unwrap();
    let io = rt.io();
    // `fault_point` takes only a name; the probability is `SimOptions::fault_probability`,
    // which has no `Kqueue` counterpart. Off a worker, then from tasks on the workers.
    let names = ["", "double", "drop message", "fail write", "\u{0}"];
    for i in 0..20_000 {
        assert!(!io.fault_point(names[i % names.len()]), "call {i}");
    }
    let fired = rt.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|t| {
                let io2 = io.clone();
                io.r#async(async move {
                    let mut fired = 0;
                    for i in 0..20_000usize {
                        fired += usize::from(io2.fault_point(&format!("point {t} {}", i % 7)));
                        if i % 1000 == 0 {
                            io2.yield_now().await;
                        }
                    }
                    fired
                })
            })
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await;
        }
        sum
    });
    assert_eq!(fired, 0);
}

#[test]
fn the_same_fault_point_loop_fires_every_time_under_sim_with_probability_one() {
    // The counterpart of the test above: the loop would see a fault point that fires.
    check_replay(SimOptions { seed: 12, fault_probability: 1.0, ..Default::default() }, |sim| {
        let c = sim.client("c", |io: IoRef| async move {
            (0..1000).filter(|i| io.fault_point(&format!("point {}", i % 7))).count()
        });
        sim.run().unwrap();
        assert_eq!(c.output(), Some(1000));
    });
}
