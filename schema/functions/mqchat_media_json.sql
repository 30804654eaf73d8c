-- An attachment as members see it in a stored message, history, sync and
-- search (docs/media.md, "In a message"): what the media service found,
-- not what the uploader declared — except the name, which is only a label
-- (and for an encrypted upload a placeholder: the real one is in the ciphertext).
-- Takes a row of `media` (any record with its columns: PL/pgSQL reads them
-- when it runs, so this file stands alone beside the migrations).
CREATE OR REPLACE FUNCTION mqchat_media_json(md record)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'id', md.id, 'name', md.declared_name, 'mime', md.mime, 'size', md.size,
        'width', md.width, 'height', md.height, 'thumb', md.thumb_sha256 IS NOT NULL,
        -- ciphertext the service stored unread (an end-to-end encrypted conversation's)
        'encrypted', CASE WHEN md.encrypted THEN true END));
END $$;
