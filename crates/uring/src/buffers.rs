//! The receive buffers: one pool the kernel picks from when bytes arrive (a ring of provided
//! buffers, `IORING_REGISTER_PBUF_RING`), so a connection waiting for its response holds none.
//!
//! Readiness loops read only once data is there, so one buffer serves every socket in turn
//! (`crates/callbacks` has exactly one). A completion loop submits its `recv` *before* the data
//! arrives: if each `recv` named a buffer of its own, every waiting connection would pin 4 KiB
//! (40 MiB at C = 10,000). Instead each `recv` names this pool; the kernel takes a buffer only
//! when it has bytes to put in it and says which in the completion (`IORING_CQE_F_BUFFER`).
//!
//! **Who owns a buffer.** From the moment it is published in the ring, the kernel: nothing here
//! reads or writes it. Once a completion names it, the [`Chunk`] made from that completion: only
//! the chunk reads it. Dropping the chunk publishes the buffer again. A buffer is never both.

// This module shares two regions of memory with the kernel; every access to them is here.
#![allow(unsafe_code)]

use std::{
    alloc::{self, Layout},
    cell::Cell,
    io,
    ops::Deref,
    ptr::{self, NonNull},
    rc::Rc,
    sync::atomic::{AtomicU16, Ordering},
};

use io_uring::Submitter;

/// One slot of the ring, as the kernel lays it out (`struct io_uring_buf`): where a buffer
/// is, how long, and its id. The ring's tail is the `resv` field of slot 0 (the kernel's
/// `struct io_uring_buf_ring` overlays it there).
#[repr(C)]
struct Slot {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

const _: () = assert!(size_of::<Slot>() == 16);

/// Page-aligned memory from the allocator, freed on drop.
struct Region {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl Region {
    fn zeroed(size: usize) -> io::Result<Region> {
        let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .and_then(|page| usize::try_from(page).ok())
            .unwrap_or(4096);
        let layout = Layout::from_size_align(size.max(1).next_multiple_of(page), page)
            .map_err(io::Error::other)?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        Ok(Region { ptr, layout })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with this layout, and freed only here.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// The pool: `count` buffers of `size` bytes, and the ring of slots through which they are
/// handed to the kernel.
///
/// Its memory must stay allocated while the kernel may use it: until the group is unregistered
/// and no `recv` naming it is in flight. [`crate::Ring`] sees to both before it drops its `Rc`
/// (or leaks it, if it cannot).
pub(crate) struct BufRing {
    /// Read by the kernel: `count` slots, the tail inside slot 0.
    slots: Region,
    /// Written by the kernel: buffer `bid` is `size` bytes at `bid * size`.
    buffers: Region,
    count: u16,
    size: u32,
    /// Slots published so far (wrapping), as the kernel will read it from the shared tail.
    tail: Cell<u16>,
}

impl BufRing {
    /// Allocates `count` buffers of `size` bytes (`count` a power of two, at most 32,768),
    /// registers them with the ring as buffer group `group`, and hands all to the kernel.
    pub(crate) fn register(
        submitter: &Submitter<'_>,
        group: u16,
        count: u16,
        size: u32,
    ) -> io::Result<Rc<BufRing>> {
        debug_assert!(count.is_power_of_two());
        let ring = BufRing {
            slots: Region::zeroed(usize::from(count) * size_of::<Slot>())?,
            buffers: Region::zeroed(usize::from(count) * size as usize)?,
            count,
            size,
            tail: Cell::new(0),
        };
        // SAFETY: the slots are page-aligned memory for `count` entries, and stay allocated
        // until the group is unregistered: `Ring` unregisters it before dropping this pool,
        // and leaks the pool instead when it cannot.
        unsafe {
            submitter.register_buf_ring_with_flags(ring.slots.ptr.as_ptr() as u64, count, group, 0)
        }?;
        for bid in 0..count {
            ring.give_back(bid);
        }
        Ok(Rc::new(ring))
    }

    /// How many buffers, and how large each is.
    pub(crate) fn shape(&self) -> (u16, u32) {
        (self.count, self.size)
    }

    /// Publishes buffer `bid` in the next free slot, for the kernel to fill again.
    fn give_back(&self, bid: u16) {
        let tail = self.tail.get();
        let slot = self
            .slots
            .ptr
            .as_ptr()
            .cast::<Slot>()
            .wrapping_add(usize::from(tail & (self.count - 1)));
        let addr = self.buffer(bid) as u64;
        // SAFETY: `slot` is inside the slots region. The kernel reads only the slots between
        // its head and the published tail; this one is past the tail (at most `count - 1`
        // buffers are published while we hold `bid`), so nothing reads it now. The fields are
        // written one by one, never slot 0's `resv`, which is the tail the kernel may be
        // reading.
        unsafe {
            (*slot).addr = addr;
            (*slot).len = self.size;
            (*slot).bid = bid;
        }
        let tail = tail.wrapping_add(1);
        self.tail.set(tail);
        // SAFETY: the tail is slot 0's `resv`: a `u16`, aligned, inside the region, and
        // accessed only atomically (the kernel loads it with acquire ordering).
        let shared_tail =
            unsafe { AtomicU16::from_ptr(ptr::addr_of_mut!((*slot_zero(self)).resv)) };
        // Release: the slot's fields are visible before the tail that publishes them.
        shared_tail.store(tail, Ordering::Release);
    }

    fn buffer(&self, bid: u16) -> *mut u8 {
        assert!(bid < self.count, "buffer id {bid} is not in the pool");
        self.buffers
            .ptr
            .as_ptr()
            .wrapping_add(usize::from(bid) * self.size as usize)
    }
}

fn slot_zero(ring: &BufRing) -> *mut Slot {
    ring.slots.ptr.as_ptr().cast()
}

/// Bytes a `recv` completion delivered, in the pool buffer the kernel chose; the buffer goes
/// back to the pool when the chunk is dropped. Empty, and holding no buffer, at the end of
/// the stream.
pub struct Chunk {
    /// The pool and the buffer lent out of it; `None` when the kernel used none.
    lent: Option<(Rc<BufRing>, u16)>,
    len: usize,
}

impl Chunk {
    /// The `len` bytes the kernel wrote into buffer `bid` of `pool`, as its completion said.
    pub(crate) fn lent(pool: Rc<BufRing>, bid: u16, len: usize) -> Chunk {
        let len = len.min(pool.size as usize);
        Chunk {
            lent: Some((pool, bid)),
            len,
        }
    }

    /// No bytes, no buffer.
    pub(crate) fn empty() -> Chunk {
        Chunk { lent: None, len: 0 }
    }
}

impl Deref for Chunk {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.lent {
            // SAFETY: a completion named buffer `bid` with `len` bytes written (`len` is capped
            // at the buffer's size): the kernel is done with it and will not touch it again
            // until `drop` publishes it. Nothing else writes it meanwhile; the pool in the
            // `Rc` keeps the memory allocated.
            Some((pool, bid)) => unsafe { std::slice::from_raw_parts(pool.buffer(*bid), self.len) },
            None => &[],
        }
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if let Some((pool, bid)) = self.lent.take() {
            pool.give_back(bid);
        }
    }
}
