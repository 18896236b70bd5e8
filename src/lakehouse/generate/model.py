"""The shop's behaviour, as constants: segments, seasonality, payment mix, prices, shipping.

Everything the generator plants on purpose (and analytics should find again) is set here,
so a reader can see the ground truth in one place:

- customers fall into four segments with different order frequency, basket size, quantity,
  reorder habit and payment mix;
- daily order volume follows a weekly pattern (weekends busier) and an upward trend;
- time of day follows a lunch and an evening peak (later mornings at weekends);
- payment shares drift over the period (wallets up, card and cash on delivery down);
- product popularity is long-tailed and a few complementary pairs are bought together;
- totals follow one exact rule: see `order_total_cents`.
"""

from __future__ import annotations

from dataclasses import dataclass

PAYMENT_METHODS = (
    "card",
    "paypal",
    "apple_pay",
    "google_pay",
    "bank_transfer",
    "cash_on_delivery",
    "gift_card",
)
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD")
STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled", "returned")
SHOP_CURRENCY = "USD"  # one currency per shop

# Shipping rule: a flat fee when the subtotal (sum of quantity x unit_price) is below the
# free-shipping threshold, else free. total_amount = subtotal + shipping, exact in cents.
SHIPPING_CENTS = 499
FREE_SHIPPING_FROM_CENTS = 5000


@dataclass(frozen=True)
class Segment:
    name: str
    share: float  # share of the customer base
    order_rate: float  # relative chance of placing any given order
    basket_mean: float  # mean distinct products per order (before complements)
    quantity_p: float  # quantity per line ~ geometric(p): mean 1/p
    favorite_share: float  # chance a line is one of the customer's favourites (drives reorders)
    payment: tuple[float, ...]  # weights in PAYMENT_METHODS order at the start of the period
    joins_during_period: bool  # True: the customer signs up on a random day of the period


#      payment:  card  paypal apple  google bank   cod    gift
_LOYAL_PAY = (0.40, 0.18, 0.20, 0.12, 0.05, 0.01, 0.04)
_REGULAR_PAY = (0.45, 0.22, 0.12, 0.09, 0.05, 0.03, 0.04)
_OCCASIONAL_PAY = (0.48, 0.25, 0.07, 0.06, 0.05, 0.06, 0.03)
_NEW_PAY = (0.38, 0.27, 0.06, 0.06, 0.04, 0.14, 0.05)
SEGMENTS = (
    Segment("loyal", 0.10, 8.0, 6.5, 0.62, 0.65, _LOYAL_PAY, False),
    Segment("regular", 0.25, 3.0, 4.5, 0.72, 0.45, _REGULAR_PAY, False),
    Segment("occasional", 0.40, 1.0, 3.2, 0.80, 0.25, _OCCASIONAL_PAY, False),
    Segment("new", 0.25, 1.6, 2.6, 0.85, 0.20, _NEW_PAY, True),
)

# Log-weight change of each payment method over the whole period (progress 0 -> 1).
PAYMENT_DRIFT = (-0.35, -0.15, 0.70, 0.50, 0.0, -0.30, 0.0)

WEEKDAY_FACTOR = (0.92, 0.95, 0.97, 1.00, 1.08, 1.22, 1.15)  # Monday .. Sunday
TREND = 0.35  # daily volume grows by this fraction from the first to the last day
DAILY_NOISE = 0.06  # log-normal day-to-day noise

HOUR_WEIGHTS_WEEKDAY = (
    0.6, 0.35, 0.25, 0.2, 0.25, 0.45, 0.9, 1.6, 2.2, 2.6, 2.8, 3.1,
    3.4, 3.2, 2.9, 2.8, 3.0, 3.4, 3.9, 4.3, 4.4, 3.8, 2.6, 1.3,
)  # fmt: skip
HOUR_WEIGHTS_WEEKEND = (
    0.9, 0.6, 0.4, 0.3, 0.25, 0.3, 0.5, 0.9, 1.6, 2.5, 3.3, 3.8,
    4.0, 3.9, 3.7, 3.5, 3.4, 3.5, 3.7, 3.9, 3.8, 3.3, 2.5, 1.5,
)  # fmt: skip

ZIPF_EXPONENT = 1.1  # product popularity ~ 1 / (rank + ZIPF_OFFSET) ** ZIPF_EXPONENT
ZIPF_OFFSET = 2.7
FAVORITES_PER_CUSTOMER = 12
MAX_BASKET = 60
MAX_QUANTITY = 24
COMPLEMENT_PROBABILITY = 0.6  # chance that an anchor product pulls its partner into the basket
MAX_COMPLEMENT_PAIRS = 8
DISCOUNT_PROBABILITY = 0.06  # chance that a line is sold below list price
DISCOUNT_PERCENTS = (10, 15, 20, 25, 30)

# Status by the order's age at the end of the period: (age limit in days, weights in STATUSES
# order). Recent orders are still placed/paid/shipped; older ones mostly delivered.
STATUS_BY_AGE = (
    (1.0, (0.30, 0.35, 0.30, 0.00, 0.05, 0.00)),
    (4.0, (0.00, 0.05, 0.45, 0.45, 0.05, 0.00)),
    (float("inf"), (0.00, 0.00, 0.00, 0.90, 0.04, 0.06)),
)


def shipping_cents(subtotal_cents: int) -> int:
    return SHIPPING_CENTS if subtotal_cents < FREE_SHIPPING_FROM_CENTS else 0


def order_total_cents(subtotal_cents: int) -> int:
    """total_amount in cents = sum(quantity * unit_price) + shipping (see SHIPPING_CENTS)."""
    return subtotal_cents + shipping_cents(subtotal_cents)
