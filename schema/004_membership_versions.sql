-- Membership versions: a removed member must receive nothing sent after the
-- removal, on every broker. A broker learns of a removal through NOTIFY, a
-- moment after the commit; a message stored after the removal could reach
-- the broker first. So every membership change numbers its conversation
-- (conversations.members_version, from one sequence) and says the number in
-- its notice ('member± <conv> <name> <version>'). The bridge reads the
-- version of each conversation it stores into, in the same transaction (the
-- row is locked, so the value is committed), and sends it with the message
-- (MQTT 5 user property mqchat-mv). A plugin that has not applied that
-- version of the conversation yet waits for the notice before delivering.
CREATE SEQUENCE mqchat_members_version;
ALTER TABLE conversations ADD COLUMN members_version bigint NOT NULL DEFAULT 0;
-- The plugin's starting point: the highest version its first load contains.
CREATE INDEX conversations_members_version ON conversations (members_version);

-- The notices: schema/functions/mqchat_notify_member.sql.
