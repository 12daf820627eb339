//! Operation batches: 64 reads on 64 socket pairs awaited together, `min` below the count, a
//! mix of writes and datagram receives, and cancellation that leaves nothing half done.

use kqio::batch::{Batch, Completion};
use kqio::net::{UdpSocket, UnixStream};
use kqio::time::{Duration, Timeout};
use kqio::{Canceled, InitOptions, Kqueue};

fn rt() -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).unwrap()
}

#[test]
fn a_batch_of_64_reads_on_64_socket_pairs() {
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let pairs: Vec<_> = (0..64).map(|_| UnixStream::pair(&io).unwrap()).collect();
        // Writers in another task, in reverse order, so the batch sees readiness arrive piecemeal.
        let writers: Vec<_> = pairs.iter().map(|(_, b)| b.handle().clone()).collect();
        let io2 = io.clone();
        let writer = io.r#async(async move {
            for (i, h) in writers.iter().enumerate().rev() {
                let msg = [i as u8; 5];
                std::future::poll_fn(|cx| io2.net_poll_write(cx, h, &msg)).await.unwrap();
                if i % 8 == 0 {
                    io2.yield_now().await;
                }
            }
        });
        let mut bufs = vec![[0u8; 16]; 64];
        let mut batch = Batch::with_capacity(&*io, 64);
        let idx: Vec<usize> = pairs
            .iter()
            .zip(bufs.iter_mut())
            .map(|((a, _), buf)| batch.read(a.handle(), buf))
            .collect();
        assert_eq!(batch.await_many(64).await.unwrap(), 64);
        for (i, &k) in idx.iter().enumerate() {
            assert_eq!(batch.result(k).unwrap().as_ref().unwrap().len(), 5, "read {i}");
        }
        drop(batch);
        for (i, buf) in bufs.iter().enumerate() {
            assert_eq!(&buf[..5], &[i as u8; 5]);
        }
        writer.await;
    });
}

#[test]
fn min_below_the_count_and_mixed_operations() {
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let (a, b) = UnixStream::pair(&io).unwrap();
        let (c, _d) = UnixStream::pair(&io).unwrap();
        let u1 = UdpSocket::bind(&io, "127.0.0.1:0".parse().unwrap()).unwrap();
        let u2 = UdpSocket::bind(&io, "127.0.0.1:0".parse().unwrap()).unwrap();
        u2.send_to(b"dgram", u1.local_addr().unwrap()).await.unwrap();
        let (mut r1, mut r2, mut r3) = ([0u8; 8], [0u8; 8], [0u8; 8]);
        let mut batch = Batch::new(&*io);
        let w = batch.write(b.handle(), b"abc");
        let never = batch.read(c.handle(), &mut r2); // nobody writes to `_d`
        let rx = batch.receive(u1.handle(), &mut r3);
        let rd = batch.read(a.handle(), &mut r1);
        assert!(batch.await_many(3).await.unwrap() >= 3);
        assert!(batch.result(never).is_none());
        assert_eq!(batch.result(w).unwrap().as_ref().unwrap().len(), 3);
        match batch.result(rx).unwrap().as_ref().unwrap() {
            Completion::Received(n, from) => {
                assert_eq!(*n, 5);
                assert_eq!(from.as_ip(), Some(u2.local_addr().unwrap()));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(batch.result(rd).unwrap().as_ref().unwrap().len(), 3);
    });
}

#[test]
fn cancel_leaves_completed_results_and_starts_nothing_more() {
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let (a, b) = UnixStream::pair(&io).unwrap();
        let (c, d) = UnixStream::pair(&io).unwrap();
        b.write_all(b"x").await.unwrap();
        let io2 = io.clone();
        let task = io.r#async(async move {
            let (mut r1, mut r2) = ([0u8; 4], [0u8; 4]);
            let mut batch = Batch::new(&*io2);
            let i = batch.read(a.handle(), &mut r1);
            let j = batch.read(c.handle(), &mut r2);
            let r = batch.await_many(2).await;
            let first = batch.result(i).map(|r| r.as_ref().unwrap().len());
            let second_done = batch.result(j).is_some();
            (r, first, second_done, c)
        });
        io.sleep(Timeout::after(Duration::from_millis(10))).await.unwrap();
        let (r, first, second_done, c) = task.cancel().await;
        assert_eq!(r, Err(Canceled));
        assert_eq!(first, Some(1));
        assert!(!second_done);
        // The unfinished read consumed nothing: data written now is read whole.
        d.write_all(b"late").await.unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"late");
    });
}
