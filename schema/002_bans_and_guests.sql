-- Bans and guests.
--  * users.banned: a banned user cannot log in and is disconnected at once.
--  * role 'guest': an anonymous visitor with a guest token (support widget).
--    Guests have no password; the bridge creates their row and membership
--    when they first write, from the plugin-stamped envelope.

ALTER TABLE users ADD COLUMN banned boolean NOT NULL DEFAULT false;
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('user', 'bridge', 'guest'));
ALTER TABLE users DROP CONSTRAINT users_password_hash_check;
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE users ADD CONSTRAINT users_password_hash_check
    CHECK (role = 'guest' OR password_hash LIKE '$argon2%');

-- Notices now carry the ban, and guests are not announced
-- (schema/functions/mqchat_notify_user.sql); a send from a guest who does not
-- exist yet creates the guest and its membership (mqchat_store_batch).
