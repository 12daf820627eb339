//! tokio's I/O traits on kqio's streams (feature `tokio-io`), with no tokio runtime anywhere: a
//! tokio-util `Framed<_, LinesCodec>` echo over a kqio `TcpStream`, `tokio::io::copy` of a
//! large stream through owned halves (shutdown seen as end of stream), and vectored writes.

use futures::{SinkExt, StreamExt};
use kqio::net::{TcpListener, TcpStream, UnixStream};
use kqio::{InitOptions, Kqueue};
use tokio_util::codec::{Framed, LinesCodec};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn rt() -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).expect("init")
}

#[test]
fn lines_codec_echo_over_a_kqio_tcp_stream() {
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let listener = TcpListener::bind(&io, "127.0.0.1:0".parse()?).await?;
        let addr = listener.local_addr()?;
        let server = io.r#async(async move {
            let (stream, _) = listener.accept().await?;
            let mut lines = Framed::new(stream, LinesCodec::new());
            let mut echoed = 0usize;
            while let Some(line) = lines.next().await {
                lines.send(format!("echo: {}", line?)).await?;
                echoed += 1;
            }
            Ok::<usize, BoxError>(echoed)
        });
        let stream = TcpStream::connect(&io, addr).await?;
        let mut lines = Framed::new(stream, LinesCodec::new());
        // Short lines, and one longer than a socket read (a frame that takes many reads).
        let long = "x".repeat(300_000);
        let mut sent = (0..500).map(|i| format!("line {i}")).collect::<Vec<_>>();
        sent.push(long);
        for line in &sent {
            lines.send(line.as_str()).await?;
            let back = lines.next().await.ok_or("closed early")??;
            assert_eq!(back, format!("echo: {line}"));
        }
        // Closing the sink shuts down writing: the server's stream ends and it returns.
        SinkExt::<&str>::close(&mut lines).await?;
        assert_eq!(server.await?, sent.len());
        assert!(lines.next().await.is_none(), "the server closed too");
        Ok::<(), BoxError>(())
    })
    .expect("codec echo");
}

#[test]
fn tokio_copy_moves_a_large_stream_through_the_halves() {
    const LEN: usize = 16 << 20;
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let (a, b) = UnixStream::pair(&io)?;
        let (_a_read, mut a_write) = a.into_split();
        let (mut b_read, _b_write) = b.into_split();
        let data: Vec<u8> = (0..LEN).map(|i| (i % 253) as u8).collect();
        let expected = data.clone();
        let writer = io.r#async(async move {
            let mut src = &data[..];
            let n = tokio::io::copy(&mut src, &mut a_write).await?;
            tokio::io::AsyncWriteExt::shutdown(&mut a_write).await?;
            Ok::<u64, std::io::Error>(n)
        });
        let mut got = Vec::new();
        let n = tokio::io::AsyncReadExt::read_to_end(&mut b_read, &mut got).await?;
        assert_eq!(writer.await?, LEN as u64);
        assert_eq!(n, LEN);
        assert!(got == expected, "the bytes differ");
        Ok::<(), BoxError>(())
    })
    .expect("copy");
}

#[test]
fn writes_are_vectored() {
    use tokio::io::AsyncWrite as _;
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let (mut a, b) = UnixStream::pair(&io)?;
        assert!(a.is_write_vectored());
        let parts = [std::io::IoSlice::new(b"one "), std::io::IoSlice::new(b"two")];
        let n = tokio::io::AsyncWriteExt::write_vectored(&mut a, &parts).await?;
        assert_eq!(n, 7);
        let mut got = [0u8; 7];
        b.read_exact(&mut got).await?;
        assert_eq!(&got, b"one two");
        Ok::<(), BoxError>(())
    })
    .expect("vectored");
}
