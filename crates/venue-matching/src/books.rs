//! Every instrument's book behind one `apply`: routes each command to its
//! book and turns refusals into `Rejected` events.

use crate::book::{BookConfig, OrderBook};
use crate::command::{Command, OrderRef};
use crate::event::{Event, EventKind, RequestKind};
use crate::state::{BookState, ImportError};
use venue_domain::{
    AccountId, CancelReason, ClientOrderId, InstrumentId, InstrumentSpec, OrderId, Reject, SpecError,
    Timestamp,
};

/// The books of all instruments, indexed by [`InstrumentId`].
#[derive(Debug, PartialEq, Eq)]
pub struct Books {
    books: Vec<OrderBook>,
}

/// `clone_from` clones each book into the target's book (see
/// [`OrderBook`]'s `Clone`).
impl Clone for Books {
    fn clone(&self) -> Self {
        Books { books: self.books.clone() }
    }

    fn clone_from(&mut self, source: &Self) {
        let Books { books } = self;
        books.clone_from(&source.books);
    }
}

/// Why a set of instruments cannot be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BooksError {
    /// Instrument ids must be 0, 1, 2, ... in order; this one is not.
    IdNotDense {
        /// The symbol whose id is out of place.
        symbol: String,
    },
    /// An instrument's specification is unusable.
    BadSpec {
        /// The symbol.
        symbol: String,
        /// What is wrong.
        error: SpecError,
    },
    /// A snapshot holds a different number of books than the configuration.
    StateMismatch {
        /// Books configured.
        books: usize,
        /// Book states given.
        states: usize,
    },
    /// A book state cannot be loaded.
    BadState {
        /// The symbol.
        symbol: String,
        /// What is wrong.
        error: ImportError,
    },
}

impl Books {
    /// Books for `specs`, whose ids must be `0..n` in order.
    pub fn new(specs: Vec<InstrumentSpec>, config: BookConfig) -> Result<Books, BooksError> {
        let mut books = Vec::with_capacity(specs.len());
        for (index, spec) in specs.into_iter().enumerate() {
            if spec.id.0 as usize != index {
                return Err(BooksError::IdNotDense { symbol: spec.symbol });
            }
            if let Err(error) = spec.validate() {
                return Err(BooksError::BadSpec { symbol: spec.symbol, error });
            }
            books.push(OrderBook::new(spec, config));
        }
        Ok(Books { books })
    }

    /// The book of one instrument.
    pub fn book(&self, instrument: InstrumentId) -> Option<&OrderBook> {
        self.books.get(instrument.0 as usize)
    }

    /// The book of one instrument, for a layer (the engine's risk) that
    /// drives books directly to learn each command's outcome.
    pub fn book_mut(&mut self, instrument: InstrumentId) -> Option<&mut OrderBook> {
        self.books.get_mut(instrument.0 as usize)
    }

    /// Number of instruments.
    pub fn len(&self) -> usize {
        self.books.len()
    }

    /// Whether there is no instrument at all.
    pub fn is_empty(&self) -> bool {
        self.books.is_empty()
    }

    /// The logical state of every book, in instrument order.
    pub fn export(&self) -> Vec<BookState> {
        self.books.iter().map(OrderBook::export).collect()
    }

    /// Rebuilds every book from `states` (one per spec, in instrument order).
    pub fn import(
        specs: Vec<InstrumentSpec>,
        config: BookConfig,
        states: &[BookState],
    ) -> Result<Books, BooksError> {
        if specs.len() != states.len() {
            return Err(BooksError::StateMismatch { books: specs.len(), states: states.len() });
        }
        let empty = Books::new(specs, config)?;
        let mut books = Vec::with_capacity(states.len());
        for (book, state) in empty.books.into_iter().zip(states) {
            let symbol = book.spec().symbol.clone();
            let imported = OrderBook::import(book.spec().clone(), config, state)
                .map_err(|error| BooksError::BadState { symbol, error })?;
            books.push(imported);
        }
        Ok(Books { books })
    }

    /// All books in instrument order.
    pub fn iter(&self) -> impl Iterator<Item = &OrderBook> {
        self.books.iter()
    }

    /// Applies one command at time `now`, appending its events to `out`.
    /// A refused command appends exactly one `Rejected` event and changes
    /// nothing.
    pub fn apply(&mut self, command: &Command, now: Timestamp, out: &mut Vec<Event>) {
        match *command {
            Command::New(ref order) => {
                let result = match self.books.get_mut(order.instrument.0 as usize) {
                    Some(book) => book.new_order(order, now, out),
                    None => Err(Reject::UnknownInstrument),
                };
                if let Err(reason) = result {
                    reject(
                        out,
                        order.instrument,
                        RequestKind::New,
                        order.order_id,
                        order.client_order_id,
                        order.account,
                        reason,
                    );
                }
            }
            Command::Cancel(ref cancel) => {
                let result = match self.books.get_mut(cancel.instrument.0 as usize) {
                    Some(book) => book.cancel(cancel, out),
                    None => Err(Reject::UnknownInstrument),
                };
                if let Err(reason) = result {
                    let (id, client) = ref_ids(cancel.target);
                    let account = cancel.account.unwrap_or_default();
                    reject(out, cancel.instrument, RequestKind::Cancel, id, client, account, reason);
                }
            }
            Command::Amend(ref amend) => {
                let result = match self.books.get_mut(amend.instrument.0 as usize) {
                    Some(book) => book.amend(amend, out),
                    None => Err(Reject::UnknownInstrument),
                };
                if let Err(reason) = result {
                    let (id, client) = ref_ids(amend.target);
                    let account = amend.account.unwrap_or_default();
                    reject(out, amend.instrument, RequestKind::Amend, id, client, account, reason);
                }
            }
            Command::MassCancel { instrument: Some(instrument), account } => {
                match self.books.get_mut(instrument.0 as usize) {
                    Some(book) => {
                        book.mass_cancel(account, CancelReason::MassCancel, out);
                    }
                    None => reject(
                        out,
                        instrument,
                        RequestKind::MassCancel,
                        OrderId(0),
                        ClientOrderId::NONE,
                        account.unwrap_or_default(),
                        Reject::UnknownInstrument,
                    ),
                }
            }
            Command::MassCancel { instrument: None, account } => {
                for book in &mut self.books {
                    book.mass_cancel(account, CancelReason::MassCancel, out);
                }
            }
            Command::SetStatus { instrument, status } => match self.books.get_mut(instrument.0 as usize) {
                Some(book) => book.set_status(status, out),
                None => reject(
                    out,
                    instrument,
                    RequestKind::SetStatus,
                    OrderId(0),
                    ClientOrderId::NONE,
                    AccountId::default(),
                    Reject::UnknownInstrument,
                ),
            },
            Command::Expire => {
                for book in &mut self.books {
                    book.expire(now, out);
                }
            }
            Command::EndOfSession => {
                for book in &mut self.books {
                    book.end_of_session(now, out);
                }
            }
        }
    }
}

fn ref_ids(target: OrderRef) -> (OrderId, ClientOrderId) {
    match target {
        OrderRef::Id(id) => (id, ClientOrderId::NONE),
        OrderRef::Client(_, client) => (OrderId(0), client),
    }
}

fn reject(
    out: &mut Vec<Event>,
    instrument: InstrumentId,
    request: RequestKind,
    order_id: OrderId,
    client_order_id: ClientOrderId,
    account: AccountId,
    reason: Reject,
) {
    out.push(Event {
        instrument,
        kind: EventKind::Rejected { order_id, client_order_id, account, request, reason },
    });
}
