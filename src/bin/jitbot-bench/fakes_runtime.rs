//! The fakes of Slack and of the provider stand in for services on other machines, but here they
//! share a core with the load generator. On the load generator's runtime, the answers it times
//! could queue behind the fakes' own work, which jitbot's background causes (three calls to
//! Slack a request) and a floor never does. On a runtime and a thread of their own, the kernel
//! shares the core between the two instead. Measured in three pairs at 500 and 1 000/s: the
//! acknowledgements the same, cards (timed where the fake receives them) about 0.2 ms sooner
//! at p50.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

fn runtime() -> &'static Runtime {
    static FAKES: OnceLock<Runtime> = OnceLock::new();
    FAKES.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bench-fakes")
            .enable_all()
            .build()
            .expect("the fakes' runtime cannot start")
    })
}

/// Listens on a free port of 127.0.0.1 and runs `serve` on it, on the fakes' runtime.
pub fn serve<Served>(
    serve: impl FnOnce(tokio::net::TcpListener) -> Served + Send + 'static,
) -> anyhow::Result<SocketAddr>
where
    Served: Future<Output = ()> + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    runtime().spawn(async move {
        // Registered with the reactor of the runtime it runs on: this one.
        match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => serve(listener).await,
            Err(error) => eprintln!("a fake could not listen on {address}: {error}"),
        }
    });
    Ok(address)
}
