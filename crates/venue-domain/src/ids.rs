//! Identifiers. Each is a distinct newtype so that an account can never be
//! passed where an order id is expected.

/// The venue's own order identifier. Assigned from the sequencer's command
/// sequence, so it is unique and monotonic across restarts; the book keys its
/// O(1) lookups on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderId(pub u64);

/// The client's own identifier of an order, as the edge encoded it into 64
/// bits (a numeric id as is, a textual one by the gateway's mapping). Zero
/// means "none given". Unique among an account's live orders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientOrderId(pub u64);

impl ClientOrderId {
    /// The value meaning "the client gave no id"; never checked for duplicates.
    pub const NONE: ClientOrderId = ClientOrderId(0);

    /// Whether the client supplied an id (duplicates are checked only then).
    pub const fn is_some(self) -> bool {
        self.0 != 0
    }
}

/// A trading account: the unit that owns orders, balances and risk limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(pub u32);

/// A self-trade-prevention group: orders of the same group never trade with
/// each other. Zero means "the account is its own group".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StpGroup(pub u32);

/// Dense index of an instrument in the venue's instrument table; books are
/// stored in a vector indexed by it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstrumentId(pub u32);

/// Identifier of one trade (one maker/taker match), per instrument, monotonic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TradeId(pub u64);

/// Nanoseconds since the Unix epoch, stamped by the sequencer on each command.
/// The engine never reads a clock: time only arrives through this type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The latest representable time; used as "never expires".
    pub const MAX: Timestamp = Timestamp(u64::MAX);
}
