"""The product catalog: departments and aisles, list prices, long-tailed popularity, pairs.

Department ids are fixed (1..12, one name each), so department_id <-> department is one-to-one.
Popularity follows a Zipf-Mandelbrot law over a random ranking of the products; a few
complementary pairs (an anchor and a less popular partner in the same department) are planted
so that the partner is bought with its anchor far more often than alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lakehouse.generate import model
from lakehouse.generate.schema import arrow_schema, money_array

# name, median list price in cents, attribute style, aisles with the goods they hold
DEPARTMENTS: tuple[tuple[str, int, str, dict[str, tuple[str, ...]]], ...] = (
    ("Grocery", 450, "food", {
        "Coffee & Tea": ("Coffee Beans", "Ground Coffee", "Green Tea", "Black Tea"),
        "Pantry": ("Pasta", "Rice", "Olive Oil", "Tomato Sauce"),
        "Snacks": ("Potato Chips", "Cookies", "Granola Bars", "Mixed Nuts"),
        "Breakfast": ("Cereal", "Oatmeal", "Pancake Mix", "Honey"),
    }),
    ("Beverages", 300, "food", {
        "Water": ("Sparkling Water", "Still Water"),
        "Soft Drinks": ("Cola", "Lemonade", "Ginger Ale"),
        "Juice": ("Orange Juice", "Apple Juice", "Smoothie"),
    }),
    ("Household", 700, "plain", {
        "Cleaning": ("All-Purpose Cleaner", "Dish Soap", "Sponges"),
        "Paper Goods": ("Paper Towels", "Toilet Paper", "Napkins"),
        "Laundry": ("Laundry Detergent", "Fabric Softener", "Stain Remover"),
    }),
    ("Personal Care", 800, "plain", {
        "Oral Care": ("Toothpaste", "Toothbrush", "Mouthwash"),
        "Hair Care": ("Shampoo", "Conditioner", "Hair Gel"),
        "Skin Care": ("Body Lotion", "Sunscreen", "Face Cream"),
    }),
    ("Baby", 1800, "food", {
        "Diapers": ("Diapers", "Baby Wipes"),
        "Baby Food": ("Infant Formula", "Fruit Puree", "Baby Cereal"),
    }),
    ("Pets", 1500, "food", {
        "Dog": ("Dry Dog Food", "Dog Treats", "Dog Shampoo"),
        "Cat": ("Dry Cat Food", "Cat Litter", "Cat Treats"),
    }),
    ("Electronics", 6000, "device", {
        "Phone Accessories": ("Phone Case", "USB-C Cable", "Wireless Charger"),
        "Audio": ("Wireless Earbuds", "Bluetooth Speaker", "Headphones"),
        "Computer Accessories": ("Wireless Mouse", "Keyboard", "USB Hub"),
        "Printers & Ink": ("Inkjet Printer", "Ink Cartridge", "Printer Paper"),
    }),
    ("Books", 1600, "book", {
        "Fiction": ("Mystery Novel", "Fantasy Novel", "Thriller"),
        "Non-fiction": ("Cookbook", "Biography", "Travel Guide"),
        "Children's Books": ("Picture Book", "Activity Book"),
    }),
    ("Toys", 2500, "plain", {
        "Building Sets": ("Building Blocks", "Construction Kit"),
        "Games": ("Board Game", "Jigsaw Puzzle", "Card Game"),
        "Outdoor Toys": ("Water Blaster", "Kite", "Jump Rope"),
    }),
    ("Sports", 3500, "plain", {
        "Fitness": ("Yoga Mat", "Dumbbells", "Resistance Bands"),
        "Cycling": ("Bike Helmet", "Bike Light", "Water Bottle"),
        "Camping": ("Tent", "Sleeping Bag", "Headlamp"),
    }),
    ("Home & Kitchen", 2800, "plain", {
        "Cookware": ("Frying Pan", "Saucepan", "Chef Knife"),
        "Tableware": ("Dinner Plates", "Glass Set", "Mugs"),
        "Storage": ("Food Containers", "Storage Boxes", "Jar Set"),
    }),
    ("Clothing", 2400, "apparel", {
        "Tops": ("T-Shirt", "Hoodie", "Shirt"),
        "Bottoms": ("Jeans", "Shorts", "Joggers"),
        "Socks & Underwear": ("Socks", "Boxer Briefs"),
    }),
)  # fmt: skip

BRANDS = (
    "Acme", "Northwind", "Bluebird", "Evergreen", "Summit", "Harbor", "Maple & Co", "Nimbus",
    "Sunrise", "Orchard", "Granite", "Lumen", "Cedar", "Polar", "Riverside", "Atlas",
)  # fmt: skip
COLORS = ("black", "white", "red", "blue", "green", "grey", "navy", "beige")
SIZES = ("XS", "S", "M", "L", "XL")
TIERS = ("Value", "Standard", "Premium")
PRICE_SIGMA = 0.5
ATTRIBUTES_MISSING = 0.08  # share of products sent without attributes


@dataclass(frozen=True)
class Catalog:
    """Products with product_id = index + 1; arrays are indexed by product index."""

    department_id: npt.NDArray[np.int64]
    price_cents: npt.NDArray[np.int64]
    cdf: npt.NDArray[np.float64]  # cumulative popularity, last value 1.0
    partner: npt.NDArray[np.int64]  # complementary partner's index, or -1
    table: pa.Table  # the products file rows, typed

    @property
    def size(self) -> int:
        return len(self.price_cents)

    def sample(self, u: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Product indices for uniform numbers in [0, 1), by popularity."""
        idx = np.searchsorted(self.cdf, u, side="right")
        return np.minimum(idx, self.size - 1).astype(np.int64)

    def pairs(self) -> list[tuple[int, int]]:
        """The planted (anchor, partner) product ids."""
        anchors = np.flatnonzero(self.partner >= 0)
        return [(int(a) + 1, int(self.partner[a]) + 1) for a in anchors]


def build_catalog(n: int, rng: np.random.Generator) -> Catalog:
    if n < 1:
        raise ValueError(f"products must be at least 1, got {n}")
    dept = rng.integers(0, len(DEPARTMENTS), n)
    medians = np.array([d[1] for d in DEPARTMENTS], dtype=np.float64)
    raw_price = medians[dept] * np.exp(rng.normal(0.0, PRICE_SIGMA, n))
    price = np.clip(np.round(raw_price / 10.0) * 10.0 - 1.0, 99, 250_000).astype(np.int64)
    ranks = rng.permutation(n)
    weights = 1.0 / (ranks + model.ZIPF_OFFSET) ** model.ZIPF_EXPONENT
    cdf = np.cumsum(weights) / weights.sum()
    cdf[-1] = 1.0
    partner = _plant_pairs(dept, ranks, rng)

    rows: dict[str, list[object]] = {k: [] for k in ("department", "name", "aisle", "attrs")}
    for i in range(n):
        dname, _, style, aisles = DEPARTMENTS[dept[i]]
        aisle = list(aisles)[int(rng.integers(0, len(aisles)))]
        goods = aisles[aisle]
        brand = BRANDS[int(rng.integers(0, len(BRANDS)))]
        rows["department"].append(dname)
        rows["aisle"].append(aisle)
        rows["name"].append(f"{brand} {goods[int(rng.integers(0, len(goods)))]}")
        missing = rng.random() < ATTRIBUTES_MISSING
        rows["attrs"].append(None if missing else _attributes(style, brand, rng))
    tier = _tiers(dept, price)
    table = pa.table(
        {
            "product_id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
            "department_id": pa.array(dept.astype(np.int64) + 1),
            "department": pa.array(rows["department"], pa.string()),
            "product_name": pa.array(rows["name"], pa.string()),
            "aisle": pa.array(rows["aisle"], pa.string()),
            "category": pa.array([TIERS[t] for t in tier], pa.string()),
            "unit_price": money_array(price),
            "attributes": pa.array(rows["attrs"], pa.string()),
        },
        schema=arrow_schema("products"),
    )
    return Catalog(dept.astype(np.int64) + 1, price, cdf, partner, table)


def _plant_pairs(
    dept: npt.NDArray[np.int64], ranks: npt.NDArray[np.int64], rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Anchors among the popular tenth, partners from the same department's middle tail."""
    n = len(dept)
    partner = np.full(n, -1, dtype=np.int64)
    wanted = min(model.MAX_COMPLEMENT_PAIRS, n // 20)
    by_rank = np.argsort(ranks)
    head = by_rank[: max(wanted * 2, n // 10)]
    tail = by_rank[n // 10 : n // 2]
    used: set[int] = set()
    for anchor in rng.permutation(head):
        if len(used) >= wanted * 2:
            break
        choices = [int(p) for p in tail if dept[p] == dept[anchor] and int(p) not in used]
        if int(anchor) in used or not choices:
            continue
        mate = choices[int(rng.integers(0, len(choices)))]
        partner[anchor] = mate
        used.update((int(anchor), mate))
    return partner


def _tiers(dept: npt.NDArray[np.int64], price: npt.NDArray[np.int64]) -> list[int]:
    """Value / Standard / Premium by the product's price relative to its department median."""
    medians = np.array([d[1] for d in DEPARTMENTS], dtype=np.float64)[dept]
    ratio = price / medians
    return [0 if r < 0.75 else 2 if r > 1.5 else 1 for r in ratio.tolist()]


def _attributes(style: str, brand: str, rng: np.random.Generator) -> str:
    def pick(options: tuple[str, ...]) -> str:
        return options[int(rng.integers(0, len(options)))]

    attrs: dict[str, object]
    if style == "food":
        attrs = {"organic": bool(rng.random() < 0.3), "pack_size": int(rng.integers(1, 13))}
    elif style == "device":
        attrs = {"brand": brand, "warranty_months": int(rng.choice([12, 24]))}
    elif style == "book":
        attrs = {"format": pick(("paperback", "hardcover", "ebook")), "language": "en"}
    elif style == "apparel":
        attrs = {"color": pick(COLORS), "size": pick(SIZES)}
    else:
        attrs = {"color": pick(COLORS)}
    return json.dumps(attrs, separators=(",", ":"), sort_keys=True)
