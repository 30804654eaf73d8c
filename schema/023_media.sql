-- Media: images and files in conversations (docs/media.md). The bytes live
-- in the media service's storage (content-addressed: a blob's key is the
-- SHA-256 of its bytes); this table says what each upload is, whose, where
-- it may be shown, and whether a message refers to it. Only new tables and
-- new nullable columns: applies with bridges running.

-- One row per upload, made by the bridge's `media.upload` request
-- (status 'pending', a single-use upload URL), taken by the media service
-- when the bytes arrive ('receiving'), checked and stored ('ready') or
-- refused with a reason ('refused'). A message that refers to it sets
-- `seq`: from then on the members of `conv_id` may download it. Rows are
-- never cascaded away with their conversation or uploader: the media
-- service's sweeper removes a row (and its blobs once no row refers to
-- them) when it was never used, its message was deleted or purged, or its
-- conversation is gone — so no blob is left without a row to find it.
CREATE TABLE media (
    id                text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    uploader_id       bigint REFERENCES users (id) ON DELETE SET NULL,
    conv_id           bigint REFERENCES conversations (id) ON DELETE SET NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'receiving', 'ready', 'refused')),
    -- What the uploader said it is; the service trusts none of it: the
    -- type is sniffed from the bytes and must agree.
    declared_name     text NOT NULL CHECK (length(declared_name) BETWEEN 1 AND 255),
    declared_type     text NOT NULL CHECK (length(declared_type) BETWEEN 3 AND 100),
    declared_size     bigint NOT NULL CHECK (declared_size > 0),
    -- The policy at the time of the grant (server settings, or the desk's):
    -- the service enforces these on the bytes it receives.
    max_bytes         bigint NOT NULL CHECK (max_bytes > 0),
    allowed_types     text[] NOT NULL,
    upload_expires_at timestamptz NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- Known once 'ready': the sniffed type, the stored bytes (re-encoded for
    -- images, which strips their metadata), pixel size, the thumbnail.
    mime              text,
    size              bigint,
    width             int,
    height            int,
    sha256            text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    thumb_sha256      text CHECK (thumb_sha256 ~ '^[0-9a-f]{64}$'),
    thumb_mime        text,
    ready_at          timestamptz,
    -- Why it was refused (an error code of docs/media.md) and, for people, how.
    refusal           text,
    refusal_message   text,
    -- The message that carries it (conv_id, seq); NULL until one does.
    seq               bigint,
    CHECK (status <> 'ready' OR (mime IS NOT NULL AND size IS NOT NULL AND sha256 IS NOT NULL))
);
-- Quotas: what a user uploaded in the last day.
CREATE INDEX media_by_uploader ON media (uploader_id, created_at);
-- The sweeper and "is this message's media": by message.
CREATE INDEX media_by_message ON media (conv_id, seq);
-- Is a blob still referred to.
CREATE INDEX media_by_blob ON media (sha256) WHERE sha256 IS NOT NULL;
CREATE INDEX media_by_thumb ON media (thumb_sha256) WHERE thumb_sha256 IS NOT NULL;
-- Uploads no message took: the sweeper's other walk.
CREATE INDEX media_unattached ON media (created_at) WHERE seq IS NULL;

-- A message of type image/file/audio/video names its upload.
ALTER TABLE messages ADD COLUMN media_id text;

-- Per desk: what visitors and agents may send in its support conversations
-- (NULL: the server's settings, media_max_bytes / media_types).
ALTER TABLE desks ADD COLUMN media_max_bytes bigint CHECK (media_max_bytes IS NULL OR media_max_bytes > 0);
ALTER TABLE desks ADD COLUMN media_types text[];

-- mqchat_store_batch returns the stored message's media (its signature
-- changes; schema/functions/mqchat_store_batch.sql makes the new one right
-- after the migrations, in the same `migrate`).
DROP FUNCTION IF EXISTS mqchat_store_batch(jsonb);
