//! The simulated world in which the example tests run an example's server function unchanged:
//! one server host and a few clients over a lossy network that is partitioned for a while; and
//! the other world, the same server function and clients on `Kqueue` over loopback.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use kqio::net::TcpListener;
use kqio::sim::{LinkOptions, NetOptions, Sim, SimError, SimOptions, SimReport};
use kqio::time::Duration;
use kqio::IoRef;

/// One run of the world with `seed`: a host `server` binds `0.0.0.0:port` and hands the listener
/// to `serve`; `clients` client hosts `client0`, `client1`, ... run `client(io, c)`. Every link
/// between hosts drops 5% of datagrams and resets a connection on 1% of writes; after 20 ms of
/// virtual time the server is cut off from the first two clients for 2 s, then the network heals
/// and the run goes on until every client has ended. Returns the clients' outputs, in order, and
/// the report.
pub fn run_partitioned<S, SFut, C, CFut>(
    seed: u64,
    port: u16,
    clients: usize,
    serve: S,
    client: C,
) -> Result<(Vec<CFut::Output>, SimReport), SimError>
where
    S: Fn(IoRef, TcpListener) -> SFut + Send + Sync + 'static,
    SFut: Future<Output = ()> + Send + 'static,
    C: Fn(IoRef, usize) -> CFut,
    CFut: Future + Send + 'static,
    CFut::Output: Send + 'static,
{
    assert!(clients >= 2, "the partition cuts off two clients");
    let net = NetOptions::default().link(LinkOptions::remote().loss(0.05).reset(0.01));
    let mut sim = Sim::new(SimOptions { seed, net, ..Default::default() });
    let serve = Arc::new(serve);
    let server = sim.host("server", move |io: IoRef| {
        let serve = serve.clone();
        async move {
            let any = format!("0.0.0.0:{port}").parse().unwrap();
            let listener = TcpListener::bind(&io, any).await.expect("bind");
            serve(io, listener).await;
        }
    });
    let clients: Vec<_> =
        (0..clients).map(|c| sim.client(&format!("client{c}"), |io| client(io, c))).collect();
    sim.run_for(Duration::from_millis(20))?;
    sim.partition(server, clients[0].host());
    sim.partition(server, clients[1].host());
    sim.run_for(Duration::from_secs(2))?;
    sim.heal();
    let report = sim.run()?;
    let outputs = clients.iter().map(|c| c.output().expect("the client ended")).collect();
    Ok((outputs, report))
}

/// The other world: on a `Kqueue` runtime, `serve` gets a listener on a loopback port and
/// `clients` tasks run `client(io, c, addr)` against it; once they have all ended, the server's
/// task is canceled, and `serve` must then end without error. Returns the clients' outputs, in
/// order.
pub fn run_on_loopback<S, SFut, C, CFut>(clients: usize, serve: S, client: C) -> Vec<CFut::Output>
where
    S: FnOnce(IoRef, TcpListener) -> SFut,
    SFut: Future<Output = std::io::Result<()>> + Send + 'static,
    C: Fn(IoRef, usize, SocketAddr) -> CFut,
    CFut: Future + Send + 'static,
    CFut::Output: Send + 'static,
{
    let rt = kqio::Kqueue::init(kqio::InitOptions::default()).expect("init");
    let io = rt.io();
    let outputs = rt.block_on(async {
        let listener = TcpListener::bind(&io, "127.0.0.1:0".parse().unwrap()).await.expect("bind");
        let addr = listener.local_addr().expect("local_addr");
        let server = io.concurrent(serve(io.clone(), listener)).expect("a task slot");
        let tasks: Vec<_> = (0..clients).map(|c| io.r#async(client(io.clone(), c, addr))).collect();
        let mut outputs = Vec::with_capacity(clients);
        for t in tasks {
            outputs.push(t.await);
        }
        // Canceled while it waits for the next connection: an orderly end, not an error.
        server.cancel().await.expect("serve ends without error when canceled");
        outputs
    });
    rt.deinit();
    outputs
}
