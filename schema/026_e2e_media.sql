-- Attachments in end-to-end encrypted conversations (docs/e2e.md,
-- docs/media.md): the client encrypts the file and uploads ciphertext, so
-- the media service stores it unread — no type sniffed, no image decoded,
-- no scan, no thumbnail — under a fixed name and type. Only a new column
-- with a default: applies with bridges and media services running.
ALTER TABLE media ADD COLUMN encrypted boolean NOT NULL DEFAULT false;
