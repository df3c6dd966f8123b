-- Run before serving by `skiff up --sqlite @examples/todo/migrations.sql`;
-- safe to run on every start.
CREATE TABLE IF NOT EXISTS todos (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0);
