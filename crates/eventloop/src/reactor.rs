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

/// A registered socket, as the loop knows it: its callback, or while it is parked what the
/// kernel said of it since.
struct Entry {
    /// `None` while the callback is running (it is out of the slab, being called), and while
    /// the socket is parked.
    callback: Option<IoCallback>,
    /// Tells this registration apart from an earlier one that used the same slab slot.
    generation: u32,
    /// `Some` while the socket is parked: the readiness its next user must be told of, the
    /// kernel's reports since it was parked included (edge-triggered, it will not repeat them).
    parked: Option<Ready>,
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
    /// Entries parked: still in the epoll set, but nothing the loop waits for.
    parked: usize,
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
            parked: None,
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
    /// which takes it out of the epoll set by itself.
    pub(crate) fn forget(&mut self, token: Token) {
        if self.entry(token).is_some() {
            self.entries.remove(key(token));
        }
    }

    /// Parks `token`'s socket: its callback is dropped (after it returns, if it is the one
    /// running), and `left` is what its next user will be told. `false` if no socket is
    /// registered under `token`.
    pub(crate) fn park(&mut self, token: Token, left: Ready) -> bool {
        let Some(entry) = self.entry(token) else {
            return false;
        };
        entry.callback = None;
        entry.parked = Some(left);
        self.parked += 1;
        true
    }

    /// Readiness the kernel reported for `token`: kept if its socket is parked (`true`).
    pub(crate) fn note(&mut self, token: Token, ready: Ready) -> bool {
        match self
            .any_entry(token)
            .and_then(|entry| entry.parked.as_mut())
        {
            Some(parked) => {
                *parked |= ready;
                true
            }
            None => false,
        }
    }

    /// Watches a parked socket again, with `callback`; returns what came for it while it was
    /// parked, or `None` if `token` is no parked socket's.
    pub(crate) fn unpark(&mut self, token: Token, callback: IoCallback) -> Option<Ready> {
        let entry = self.any_entry(token)?;
        let seen = entry.parked.take()?;
        entry.callback = Some(callback);
        self.parked -= 1;
        Some(seen)
    }

    /// Drops a parked socket's entry: its owner closed it, which took it out of the epoll set.
    pub(crate) fn release(&mut self, token: Token) {
        if self
            .any_entry(token)
            .is_some_and(|entry| entry.parked.is_some())
        {
            self.entries.remove(key(token));
            self.parked -= 1;
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

    /// Sockets the loop waits for: the registered ones but those parked.
    pub(crate) fn len(&self) -> usize {
        self.entries.len() - self.parked
    }

    /// Entries, parked ones and those given back but not yet dropped included.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> usize {
        self.entries.len()
    }

    /// The entry of a socket registered under `token` and not parked.
    fn entry(&mut self, token: Token) -> Option<&mut Entry> {
        self.any_entry(token).filter(|entry| entry.parked.is_none())
    }

    /// The entry of `token`, parked or not.
    fn any_entry(&mut self, token: Token) -> Option<&mut Entry> {
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
