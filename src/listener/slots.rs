//! Slots for what the server holds open at once — connections, WebSockets —
//! capped in all and, so that no one client address can take every slot,
//! per address. Trusted proxies carry many clients' traffic: they have no
//! per-address cap.
//!
//! The accept loop and the WebSocket handler each have their own [`Slots`];
//! a [`Slot`] is held for as long as what it counts is open.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A cap in all, and a share of it per client address.
#[derive(Clone)]
pub struct Slots {
    total: Arc<Semaphore>,
    capacity: usize,
    per_address: PerAddress,
    /// Addresses without a per-address cap (the trusted proxies).
    exempt: Arc<[IpAddr]>,
}

impl Slots {
    /// `capacity` slots in all, at most `per_address` of them held by one
    /// address other than those in `exempt`.
    pub fn new(capacity: u32, per_address: u32, exempt: Arc<[IpAddr]>) -> Self {
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX);
        Self {
            total: Arc::new(Semaphore::new(capacity)),
            capacity,
            per_address: PerAddress::new(per_address),
            exempt,
        }
    }

    /// Waits for a free slot in all; the address is assigned once known
    /// (the accept loop waits here before accepting, so that clients past
    /// the cap wait in the kernel's backlog). `None` only if the slots
    /// were closed, which nothing does.
    pub async fn reserve(&self) -> Option<Reserved> {
        let total = Arc::clone(&self.total).acquire_owned().await.ok()?;
        Some(Reserved {
            slots: self.clone(),
            total,
        })
    }

    /// A free slot in all, if there is one now.
    pub fn try_reserve(&self) -> Option<Reserved> {
        let total = Arc::clone(&self.total).try_acquire_owned().ok()?;
        Some(Reserved {
            slots: self.clone(),
            total,
        })
    }

    /// How many slots are held.
    pub fn in_use(&self) -> usize {
        self.capacity.saturating_sub(self.total.available_permits())
    }
}

/// A slot counted in all, not yet given to an address.
pub struct Reserved {
    slots: Slots,
    total: OwnedSemaphorePermit,
}

impl Reserved {
    /// The slot, held by `address`, if that address has room left in its
    /// share; otherwise the reservation is given back.
    pub fn assign(self, address: IpAddr) -> Option<Slot> {
        let address = if self.slots.exempt.contains(&address) {
            None
        } else {
            Some(self.slots.per_address.take(address)?)
        };
        Some(Slot {
            _total: self.total,
            _address: address,
        })
    }
}

/// One held slot: given back, in all and to its address, when dropped.
pub struct Slot {
    _total: OwnedSemaphorePermit,
    _address: Option<AddressSlot>,
}

/// Slots held per client address, capped.
#[derive(Clone)]
struct PerAddress {
    cap: u32,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl PerAddress {
    fn new(cap: u32) -> Self {
        Self {
            cap,
            open: Arc::default(),
        }
    }

    /// A slot for one more from `address`, if it has room.
    fn take(&self, address: IpAddr) -> Option<AddressSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(address).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            owner: self.clone(),
            address,
        })
    }
}

/// One slot's place in its address's count; the address is forgotten when
/// its last slot is given back, so the map stays as small as the number of
/// addresses holding slots.
struct AddressSlot {
    owner: PerAddress,
    address: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const AWAY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
    const PROXY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3));

    fn take(slots: &Slots, address: IpAddr) -> Option<Slot> {
        slots.try_reserve()?.assign(address)
    }

    #[test]
    fn an_address_gets_at_most_its_share_and_slots_come_back() {
        let slots = Slots::new(10, 2, Arc::new([]));
        let first = take(&slots, HOME);
        let second = take(&slots, HOME);
        assert!(first.is_some() && second.is_some());
        assert!(take(&slots, HOME).is_none());
        assert_eq!(
            slots.in_use(),
            2,
            "a refused address gives its reservation back"
        );
        assert!(
            take(&slots, AWAY).is_some(),
            "other addresses are not affected"
        );
        drop(first);
        assert!(take(&slots, HOME).is_some());
    }

    #[test]
    fn the_cap_in_all_holds_whatever_the_addresses() {
        let slots = Slots::new(2, 2, Arc::new([]));
        let held = [take(&slots, HOME), take(&slots, AWAY)];
        assert!(held.iter().all(Option::is_some));
        assert!(slots.try_reserve().is_none());
        assert_eq!(slots.in_use(), 2);
    }

    #[test]
    fn trusted_proxies_have_no_share_cap() {
        let slots = Slots::new(10, 1, Arc::new([PROXY]));
        let held: Vec<_> = (0..5).map(|_| take(&slots, PROXY)).collect();
        assert!(held.iter().all(Option::is_some));
    }

    #[test]
    fn addresses_without_slots_are_forgotten() {
        let slots = Slots::new(10, 2, Arc::new([]));
        drop(take(&slots, HOME));
        assert!(
            slots
                .per_address
                .open
                .lock()
                .map(|open| open.is_empty())
                .unwrap_or(false)
        );
        assert_eq!(slots.in_use(), 0);
    }
}
