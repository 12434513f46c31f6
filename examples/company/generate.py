#!/usr/bin/env python3
"""Writes the CSV files of the example company (Nordic Provisions): what an ERP would
export for Fieldsync. Deterministic: running it again gives the same files.
scripts/demo-company.sh loads them with `fieldsync-server import`."""
import csv, os, random

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(2026)


def write(name, header, rows):
    with open(os.path.join(HERE, name), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


TERRITORIES = [("NORTH", "Northern region"), ("CENTRAL", "Central region"), ("SOUTH", "Southern region")]
CATEGORIES = [("BEV", "Beverages"), ("SNK", "Snacks"), ("DRY", "Dry goods"), ("DAIRY", "Dairy"),
              ("FRZ", "Frozen"), ("HOME", "Household"), ("CARE", "Personal care"), ("PET", "Pet food")]
# Each region sells six of the eight categories; neighbours overlap.
SELLS = {"NORTH": ["BEV", "SNK", "DRY", "DAIRY", "FRZ", "HOME"],
         "CENTRAL": ["BEV", "SNK", "DRY", "HOME", "CARE", "PET"],
         "SOUTH": ["DRY", "DAIRY", "FRZ", "HOME", "CARE", "PET"]}
CITIES = {"NORTH": ["Tromso", "Bodo", "Lulea", "Oulu", "Kiruna", "Narvik"],
          "CENTRAL": ["Trondheim", "Ostersund", "Umea", "Sundsvall", "Mo i Rana", "Kristiansund"],
          "SOUTH": ["Bergen", "Stavanger", "Gothenburg", "Malmo", "Aarhus", "Kristiansand"]}
WORDS = ["Fjord", "Birch", "Harbour", "Aurora", "Granite", "Pine", "Midnight", "Glacier", "Meadow",
         "Coast", "Lantern", "Reindeer", "Salmon", "Cloudberry", "Nordic", "Valley"]
SHOPS = ["Market", "Grocers", "Kiosk", "Foods", "Trading", "Deli", "Supermarket", "Store", "Depot", "Pantry"]
ITEMS = {"BEV": ["Sparkling water", "Apple juice", "Cola", "Coffee beans", "Green tea", "Lemonade"],
         "SNK": ["Crisps", "Salted nuts", "Chocolate bar", "Rice cakes", "Pretzels", "Licorice"],
         "DRY": ["Oat flakes", "Pasta", "Basmati rice", "Rye flour", "Lentils", "Crispbread"],
         "DAIRY": ["Butter", "Brown cheese", "Yoghurt", "Skyr", "Cream", "Milk"],
         "FRZ": ["Fish fingers", "Peas", "Berries", "Meatballs", "Pizza", "Ice cream"],
         "HOME": ["Dish soap", "Paper towels", "Candles", "Bin bags", "Sponges", "Detergent"],
         "CARE": ["Shampoo", "Toothpaste", "Hand cream", "Soap", "Sun lotion", "Lip balm"],
         "PET": ["Dog food", "Cat food", "Cat litter", "Dog treats", "Bird seed", "Fish flakes"]}
SIZES = ["250 g", "500 g", "1 kg", "330 ml", "1 l", "6-pack", "12-pack", "2 kg"]

write("territories.csv", ["code", "name"], TERRITORIES)
write("product_categories.csv", ["code", "name"], CATEGORIES)
write("territory_categories.csv", ["territory", "category"],
      [(t, c) for t, _ in TERRITORIES for c in SELLS[t]])
write("price_lists.csv", ["code", "name", "currency"],
      [("STD", "Standard", "EUR"), ("KEY", "Key accounts", "EUR")])
write("warehouses.csv", ["code", "name", "city"],
      [("WH-TRD", "Trondheim depot", "Trondheim"), ("WH-GOT", "Gothenburg depot", "Gothenburg"),
       ("WH-LUL", "Lulea depot", "Lulea")])

products, prices, stock, promotions = [], [], [], []
for i in range(2000):
    cat = CATEGORIES[i % len(CATEGORIES)][0]
    sku = f"NP-{i:05d}"
    name = f"{rng.choice(WORDS)} {rng.choice(ITEMS[cat])} {rng.choice(SIZES)}"
    active = "false" if i % 53 == 17 else "true"
    products.append((sku, name, cat, "case" if i % 4 == 0 else "each", active))
    std = rng.randrange(95, 4900)
    prices.append(("STD", sku, std))
    prices.append(("KEY", sku, std * 92 // 100))
    for wh in ("WH-TRD", "WH-GOT", "WH-LUL"):
        on_hand = rng.randrange(0, 800)
        stock.append((wh, sku, on_hand, on_hand // 12))
    if i % 13 == 0:
        promotions.append((sku, f"{rng.choice(['Winter', 'Spring', 'Summer', 'Autumn'])} offer",
                           rng.choice([5, 10, 15, 20]), "2026-11-01", "2027-12-31"))
write("products.csv", ["sku", "name", "category_id", "unit", "active"], products)
write("price_list_items.csv", ["price_list_id", "product_id", "unit_price_cents"], prices)
write("inventory_levels.csv", ["warehouse_id", "product_id", "on_hand", "reserved"], stock)
write("promotions.csv", ["product_id", "name", "discount_pct", "starts_on", "ends_on"], promotions)

customers = []
for i in range(5000):
    territory = TERRITORIES[i % 3][0]
    city = rng.choice(CITIES[territory])
    name = f"{rng.choice(WORDS)} {rng.choice(SHOPS)} {city}"
    customers.append((f"NP-C{i:05d}", name, territory, "KEY" if i % 9 == 0 else "STD",
                      f"+47 {rng.randrange(20000000, 99999999)}", f"orders{i}@customer{i % 700}.example",
                      city, rng.randrange(10, 200) * 10000))
write("customers.csv", ["code", "name", "territory_id", "price_list_id", "phone", "email", "city",
                        "credit_limit_cents"], customers)

users = [("mgr.north", "manager", "", ""), ("mgr.south", "manager", "", "")]
for i in range(12):
    territory = TERRITORIES[i % 3][0]
    manager = "mgr.north" if territory == "NORTH" or (territory == "CENTRAL" and i % 2 == 0) else "mgr.south"
    users.append((f"rep{i + 1:02d}", "rep", territory, manager))
write("users.csv", ["username", "role", "territories", "manager"], users)
