//! `--max-pages`: the first N URLs breadth first, the same whatever the strategy, the number of
//! loops, the concurrency or the timing.
//!
//! A budget spent as URLs are found depends on the order fetches complete, which nothing fixes
//! once more than one is in flight, and with several shards on the order their messages
//! arrive too. So a bounded crawl spends its budget by *rank*, not by time:
//!
//! - root `i` has rank `[i]`, and link `j` of a page of rank `r` has rank `r ++ [j]` (its
//!   redirect target comes after its links); a URL found several ways keeps its first rank;
//! - ranks compare as words do, so all the URLs of one depth come in the order a one-at-a-
//!   time breadth-first crawl would find them: by the rank of the page that links to them,
//!   then by where the link is in the page;
//! - a URL found by a page is a [`Candidate`], held until its round: when nothing is left in
//!   flight or waiting (every page of the depth before has ended), the round's candidates
//!   are sorted by rank and go through the frontier in that order, as links would one after
//!   another, until the budget is spent ([`Cutoff`]); what comes after is forgotten, as a
//!   link found after the budget is.
//!
//! With one crawler a round is a sort and a loop. With several shards each holds the
//! candidates it owns, and the round needs the whole crawl to agree where the budget stops:
//! when the shards are found idle (the same probe that finds the crawl over, [`crate::shard`]),
//! shard 0 asks round the ring how many of the candidates would take a page and, only if
//! they are more than the pages left, which rank takes the last one; then it tells every
//! shard the cutoff. Each shard can count its own: a URL's candidates all go to the shard that
//! owns the URL, whose seen set decides whether it is new.
//!
//! The price is a barrier per depth, paid only when `--max-pages` is given (the benchmark's
//! crawls are unbounded and never hold a link): a bounded crawl does not fetch a page of depth
//! d + 1 while one of depth d is still in flight.

use std::sync::Arc;

use url::Url;

/// Where a URL stands in breadth-first order: its root's index, then the index of each link
/// on the way to it. Ranks of one round have the same length and compare lexicographically.
pub(crate) type Rank = Box<[u32]>;

/// The rank of the `index`th URL found by the page of rank `parent`.
pub(crate) fn child(parent: &[u32], index: usize) -> Rank {
    let mut rank = Vec::with_capacity(parent.len() + 1);
    rank.extend_from_slice(parent);
    rank.push(u32::try_from(index).unwrap_or(u32::MAX));
    rank.into()
}

/// The page whose links a candidate is: credited with the link if it turns out new (its
/// `new_links`). Named by URL, which no later removal of a record can shift.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub(crate) shard: usize,
    pub(crate) url: Arc<str>,
}

/// A URL found by a page of a bounded crawl, waiting for its round.
#[derive(Debug)]
pub(crate) struct Candidate {
    pub(crate) url: Url,
    /// Redirects that led to it (0 for a link).
    pub(crate) redirects: u32,
    pub(crate) rank: Rank,
    /// The page to credit if it is a new link.
    pub(crate) from: Option<Source>,
}

/// Where a round's budget stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cutoff {
    /// Every candidate fits.
    All,
    /// Candidates up to this rank (included) go through with the budget; those after it
    /// find it spent.
    Through(Rank),
    /// The budget is spent: none goes through.
    Nothing,
}

impl Cutoff {
    /// Whether the candidate of `rank` still finds pages left.
    pub(crate) fn admits(&self, rank: &[u32]) -> bool {
        match self {
            Cutoff::All => true,
            Cutoff::Through(last) => rank <= &**last,
            Cutoff::Nothing => false,
        }
    }

    /// The cutoff for `budget` pages left, given the ranks of the candidates that would each
    /// take a page, in order (at least the first `budget` of them, if there are that many):
    /// the one that takes the last page, if the round spends the budget.
    pub(crate) fn of(budget: usize, chargeable: &[&Rank]) -> Cutoff {
        // The candidate that takes the last page spends the budget: what comes after it,
        // chargeable or not, finds it spent (a new link out of scope is then not recorded).
        match budget.checked_sub(1).map(|last| chargeable.get(last)) {
            Some(Some(rank)) => Cutoff::Through((*rank).clone()),
            Some(None) => Cutoff::All,
            None => Cutoff::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_are_breadth_first() {
        let (a, b) = (child(&[0], 1), child(&[1], 0));
        assert!(a < b);
        assert!(child(&a, 7) < child(&b, 0));
        assert!(child(&[0, 2], 9) < child(&[0, 10], 0));
    }

    #[test]
    fn the_cutoff_is_the_rank_that_takes_the_last_page() {
        let ranks: Vec<Rank> = (0..5).map(|i| child(&[0], i)).collect();
        let refs: Vec<&Rank> = ranks.iter().collect();
        // Five pages for five: the fifth spends the budget, and what follows finds it spent.
        assert_eq!(Cutoff::of(5, &refs), Cutoff::Through(child(&[0], 4)));
        assert_eq!(Cutoff::of(9, &refs), Cutoff::All);
        let two = Cutoff::of(2, &refs);
        assert_eq!(two, Cutoff::Through(child(&[0], 1)));
        assert!(two.admits(&child(&[0], 0)) && two.admits(&child(&[0], 1)));
        assert!(!two.admits(&child(&[0], 2)));
        assert_eq!(Cutoff::of(0, &refs), Cutoff::Nothing);
        assert_eq!(Cutoff::of(0, &[]), Cutoff::Nothing);
    }
}
