//! A [`Server`] running on a thread of its own with its own async runtime, for tests, load
//! tests and programs that are not async themselves.

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use super::serving::Server;

/// A server serving in the background until [`Background::stop`] or drop.
pub struct Background {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Background {
    /// Binds `addr` (port 0: a free port) and serves `server` there on a new thread with a
    /// runtime of `threads` worker threads.
    pub fn start(server: Server, addr: &str, threads: usize) -> std::io::Result<Background> {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let addr = addr.to_string();
        let thread = std::thread::Builder::new()
            .name("loam-server".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads.max(1))
                    .enable_all()
                    .build()?;
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::bind(&addr).await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = addr_tx.send(Err(std::io::Error::new(
                                e.kind(),
                                format!("cannot listen on {addr}: {e}"),
                            )));
                            return Ok(());
                        }
                    };
                    let _ = addr_tx.send(listener.local_addr());
                    server
                        .serve(listener, async move {
                            let _ = stop_rx.await;
                        })
                        .await
                })
            })?;
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the server did not start within 60 s",
                )
            })??;
        Ok(Background {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Asks the server to shut down gracefully, as SIGTERM does, without waiting.
    pub fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Shuts down gracefully and waits for the server: its result.
    pub fn stop(mut self) -> std::io::Result<()> {
        self.begin_stop();
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(std::io::Error::other("the server thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.begin_stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
