//! Readiness to callbacks: which callback runs when a socket becomes readable or writable.
//!
//! This is what Python's `selectors` module plus the `data` field of a selector key give the
//! lecture's loop: a registry from a descriptor to "what to call next".

use mio::{Interest, Registry, Token, event::Source};
use slab::Slab;

use crate::{EventLoop, Ready};

/// What runs when a registered socket is ready; it may re-register, replace itself, or
/// deregister its socket.
pub(crate) type IoCallback = Box<dyn FnMut(&mut EventLoop, Ready)>;

/// A registered socket, as the loop knows it: only its callback.
struct Entry {
    /// `None` while the callback is running (it is out of the slab, being called).
    callback: Option<IoCallback>,
    /// Tells this registration apart from an earlier one that used the same slab slot.
    generation: u32,
}

/// The registry of sockets and their callbacks, keyed by token.
///
/// A token is the slab key in its low 32 bits and a generation in its high 32 bits, so an
/// event still in flight for a socket that was deregistered (and whose slot was reused) is
/// recognised as stale and dropped instead of reaching the wrong callback.
#[derive(Default)]
pub(crate) struct Reactor {
    entries: Slab<Entry>,
    next_generation: u32,
}

impl Reactor {
    pub(crate) fn register(
        &mut self,
        registry: &Registry,
        source: &mut impl Source,
        interest: Interest,
        callback: IoCallback,
    ) -> std::io::Result<Token> {
        self.insert(callback, |token| registry.register(source, token, interest))
    }

    /// A new entry for a socket still in the epoll set under an older token (parked): the
    /// kernel is told the new token, which also has it report the socket's readiness afresh.
    pub(crate) fn unpark(
        &mut self,
        registry: &Registry,
        source: &mut impl Source,
        interest: Interest,
        callback: IoCallback,
    ) -> std::io::Result<Token> {
        self.insert(callback, |token| {
            registry.reregister(source, token, interest)
        })
    }

    /// A new entry, under a generation of its own, kept if `tell_kernel` takes its token.
    fn insert(
        &mut self,
        callback: IoCallback,
        tell_kernel: impl FnOnce(Token) -> std::io::Result<()>,
    ) -> std::io::Result<Token> {
        self.next_generation = self.next_generation.wrapping_add(1);
        let generation = self.next_generation;
        let key = self.entries.insert(Entry {
            callback: Some(callback),
            generation,
        });
        let token = token(key, generation);
        if let Err(err) = tell_kernel(token) {
            self.entries.remove(key);
            return Err(err);
        }
        Ok(token)
    }

    pub(crate) fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        source: &mut impl Source,
        interest: Interest,
        callback: IoCallback,
    ) -> std::io::Result<()> {
        let entry = self.entry(token).ok_or_else(unknown_token)?;
        registry.reregister(source, token, interest)?;
        entry.callback = Some(callback);
        Ok(())
    }

    pub(crate) fn set_callback(
        &mut self,
        token: Token,
        callback: IoCallback,
    ) -> std::io::Result<()> {
        let entry = self.entry(token).ok_or_else(unknown_token)?;
        entry.callback = Some(callback);
        Ok(())
    }

    pub(crate) fn deregister(
        &mut self,
        registry: &Registry,
        token: Token,
        source: &mut impl Source,
    ) -> std::io::Result<()> {
        self.entry(token).ok_or_else(unknown_token)?;
        self.entries.remove(key(token));
        registry.deregister(source)
    }

    /// Drops `token`'s entry without telling the kernel: its socket is about to be closed,
    /// which takes it out of the epoll set by itself, or is parked, and the kernel's events
    /// for its old token find no entry.
    pub(crate) fn forget(&mut self, token: Token) {
        if self.entry(token).is_some() {
            self.entries.remove(key(token));
        }
    }

    /// Takes the callback of `token` out to run it; `None` for a stale event.
    ///
    /// Out, not borrowed: a callback gets `&mut EventLoop`, and the loop owns this reactor,
    /// so a callback still inside the slab while it runs would be a second `&mut` to it. While
    /// it runs its entry is empty, and what the callback does to its own registration shows
    /// there: [`Reactor::put_back`] finds a new callback (it named its next step) or no entry
    /// (it deregistered or closed its socket), and then drops the old one.
    pub(crate) fn take(&mut self, token: Token) -> Option<IoCallback> {
        self.entry(token)?.callback.take()
    }

    /// Puts a callback back after it ran, unless it deregistered or replaced itself meanwhile.
    pub(crate) fn put_back(&mut self, token: Token, callback: IoCallback) {
        if let Some(entry) = self.entry(token)
            && entry.callback.is_none()
        {
            entry.callback = Some(callback);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn entry(&mut self, token: Token) -> Option<&mut Entry> {
        let generation = (token.0 >> 32) as u32;
        self.entries
            .get_mut(key(token))
            .filter(|entry| entry.generation == generation)
    }
}

fn token(key: usize, generation: u32) -> Token {
    Token((generation as usize) << 32 | key)
}

fn key(token: Token) -> usize {
    token.0 & 0xffff_ffff
}

fn unknown_token() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotFound, "token is not registered")
}
