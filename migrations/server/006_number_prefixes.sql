-- One order-number prefix per client (a laptop's profile), handed out at sign-in: the
-- prefix is `n` written in letters (1 = A, 27 = AA), so numbers made offline on
-- different laptops never collide. A client keeps its prefix across sign-ins.
CREATE TABLE number_prefixes (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL UNIQUE
);
