-- A node's BLS public key (protocol key), from NodeRegistered and NodeUpdated, so explorers
-- and operators can check which key signs for which node.
ALTER TABLE nodes ADD COLUMN public_key bytea;
