-- The Sui validator committee that signs the checkpoints after the watermark (BCS of
-- sui_sdk_types::ValidatorCommittee), when certificates are checked: a restart goes on checking
-- from it, and each epoch's last checkpoint replaces it in the same transaction.
ALTER TABLE watermark ADD COLUMN validator_committee bytea;
