-- The pre-chat form of a desk (docs/desks.md, "Setting a desk up"): the
-- fields the widget asks before the first message, in order, as
-- [{"name": "email", "type": "email", "required": true}, …]. The answers
-- arrive as the conversation's details; desk.start refuses a start that
-- leaves out a required one.
ALTER TABLE desks ADD COLUMN prechat_fields jsonb NOT NULL DEFAULT '[]'
    CHECK (jsonb_typeof(prechat_fields) = 'array' AND jsonb_array_length(prechat_fields) <= 10);
