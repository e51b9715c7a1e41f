//! A real poetry server and client over TCP on 127.0.0.1, with several downloads at once.
//!
//! Each server listens on a free port, and sends its poem to whoever connects, a few bytes at
//! a time, slowly, then closes the connection: the end of the poem. The client runs on the
//! `Reactor`. For each download a helper thread connects and reads, and hands every chunk to
//! the reactor's thread with `call_from_thread`, where a protocol object collects it and fires
//! the download's Deferred when the connection closes. `DeferredList` waits for all the
//! downloads, and gives their results in the order they were asked for, whatever order they
//! finished in. One download goes to a port where nothing listens, and fails on its own
//! without holding up the others.
//!
//! Nothing can hang: connecting, reading and writing all have timeouts, the servers notice a
//! stop request within a few milliseconds, and every thread is joined.
//!
//! Run it with `cargo run --example poetry_server_client --features reactor`. The guide's
//! chapter is `docs/guide/11-poetry-over-tcp.md`.

mod support;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use deferreds::reactor::Reactor;
use deferreds::{Deferred, DeferredList, Failure, Resolver};
pub use support::Out;

fn main() -> io::Result<()> {
    poetry_program(&Reactor::new(), &Out::stdout(), Duration::from_millis(150))
}

/// How long connecting, or waiting for the next bytes, may take before it counts as failed.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// How many bytes a server sends at a time.
pub const CHUNK: usize = 16;

/// The poems the servers send.
pub const POEMS: [&str; 2] = [
    "\
Two ferries cross the harbour, slow,
one coming in and one to go;
they pass without a word between,
like people in a magazine.",
    "\
The rain has learned a single word
and says it to the roof all night;
by morning, nothing has occurred
except the garden, washed and bright.",
];

// ---- The server ----

/// A poetry server on its own thread: it sends its poem to each client in turn, `CHUNK` bytes
/// at a time with a pause between, then closes the connection.
#[derive(Debug)]
pub struct PoetryServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PoetryServer {
    /// Starts a server on a free port of 127.0.0.1.
    pub fn start(poem: &'static str, pause: Duration) -> io::Result<PoetryServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        // Accepting without blocking lets the thread see a stop request within a few ms.
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || serve(&listener, poem, pause, &stopping));
        Ok(PoetryServer { addr, stop, thread: Some(thread) })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits for its thread, which ends within one pause.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for PoetryServer {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn serve(listener: &TcpListener, poem: &str, pause: Duration, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => send_poem(client, poem, pause, stop),
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(5)),
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Sends the poem slowly; gives up if the client has gone or the server is stopping.
fn send_poem(mut client: TcpStream, poem: &str, pause: Duration, stop: &AtomicBool) {
    if client.set_nonblocking(false).is_err() || client.set_write_timeout(Some(PATIENCE)).is_err() {
        return;
    }
    for chunk in poem.as_bytes().chunks(CHUNK) {
        if stop.load(Ordering::SeqCst) || client.write_all(chunk).is_err() {
            return;
        }
        thread::sleep(pause);
    }
    // Dropping the stream closes the connection, which tells the client the poem is complete.
}

// ---- The client ----

/// The client's side of one download (Twisted's protocol): it collects the bytes as they
/// arrive, and fires its Deferred when the connection ends.
#[derive(Debug)]
pub struct PoetryProtocol {
    poem: Vec<u8>,
    done: Resolver<String>,
}

impl PoetryProtocol {
    /// Some more of the poem arrived.
    pub fn data_received(&mut self, data: &[u8]) {
        self.poem.extend_from_slice(data);
    }

    /// The connection ended: cleanly after the whole poem, or with an error.
    pub fn connection_lost(&mut self, reason: io::Result<()>) {
        let result = match reason {
            Ok(()) => Ok(String::from_utf8_lossy(&self.poem).into_owned()),
            Err(error) => Err(Failure::new(error)),
        };
        let _ = self.done.resolve(result);
    }
}

/// Downloads the poem at `addr`. Connecting and reading block, so a helper thread does them and
/// hands each event to the protocol on the reactor's thread with `call_from_thread`.
pub fn get_poetry(reactor: &Reactor, addr: SocketAddr) -> Deferred<String> {
    let (poem, done) = Deferred::new();
    let protocol = Arc::new(Mutex::new(PoetryProtocol { poem: Vec::new(), done }));
    let reactor = reactor.clone();
    let reader = thread::spawn(move || {
        // Runs `event` on the protocol, on the reactor's thread.
        let deliver = |event: Box<dyn FnOnce(&mut PoetryProtocol) + Send>| {
            let protocol = protocol.clone();
            reactor.call_from_thread(move || {
                event(&mut protocol.lock().unwrap_or_else(PoisonError::into_inner));
            });
        };
        let mut stream = match TcpStream::connect_timeout(&addr, PATIENCE) {
            Ok(stream) => stream,
            Err(error) => return deliver(Box::new(move |p| p.connection_lost(Err(error)))),
        };
        if let Err(error) = stream.set_read_timeout(Some(PATIENCE)) {
            return deliver(Box::new(move |p| p.connection_lost(Err(error))));
        }
        let mut buffer = [0; 1024];
        loop {
            match stream.read(&mut buffer) {
                Ok(0) => return deliver(Box::new(|p| p.connection_lost(Ok(())))),
                Ok(n) => {
                    let data = buffer[..n].to_vec();
                    deliver(Box::new(move |p| p.data_received(&data)));
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return deliver(Box::new(move |p| p.connection_lost(Err(error)))),
            }
        }
    });
    // The Deferred fires from the reader's last event; the reader has nothing left to do then.
    poem.add_both(move |result| {
        let _ = reader.join();
        result
    })
}

/// A port on 127.0.0.1 where nothing listens: one the system had free a moment ago.
pub fn closed_port() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    drop(listener);
    Ok(addr)
}

/// Downloads from every address at once, and reports each result in the order asked.
pub fn download_all(
    reactor: &Reactor,
    out: &Out,
    sources: Vec<(String, SocketAddr)>,
) -> Deferred<()> {
    let downloads: Vec<Deferred<String>> =
        sources.iter().map(|(_, addr)| get_poetry(reactor, *addr)).collect();
    out.line(format!("downloading {} poems at once", downloads.len()));
    let out = out.clone();
    DeferredList::new(downloads).consume_errors(true).into_deferred().map(move |results| {
        for ((name, _), result) in sources.iter().zip(results) {
            match result {
                Ok(poem) => {
                    out.line("");
                    out.line(format!("from {name}:"));
                    for line in poem.lines() {
                        out.line(format!("    {line}"));
                    }
                }
                Err(failure) => {
                    out.line("");
                    match failure.downcast_ref::<io::Error>() {
                        Some(error) => out.line(format!("from {name}: failed, {:?}", error.kind())),
                        None => out.line(format!("from {name}: failed, {failure}")),
                    }
                }
            }
        }
    })
}

/// Starts two servers, downloads from both and from a closed port, and stops the servers.
/// `pause` is how long a server waits between chunks.
pub fn poetry_program(reactor: &Reactor, out: &Out, pause: Duration) -> io::Result<()> {
    let servers = [PoetryServer::start(POEMS[0], pause)?, PoetryServer::start(POEMS[1], pause)?];
    let sources = vec![
        ("the first server".to_string(), servers[0].addr()),
        ("the second server".to_string(), servers[1].addr()),
        ("a port where nothing listens".to_string(), closed_port()?),
    ];
    let finished = reactor.react(|reactor| download_all(reactor, out, sources));
    for server in servers {
        server.stop();
    }
    finished.map_err(|failure| io::Error::other(failure.to_string()))
}
