-- Which item each finished resumable upload became, so that a client
-- retrying the final request after a crash (the item committed, the answer
-- lost) gets the same item back instead of a second copy. The key is the
-- upload's random id; it says nothing about the file.
CREATE TABLE evidence_uploads (
	upload_key TEXT NOT NULL PRIMARY KEY,
	item_id    TEXT NOT NULL REFERENCES evidence_items (id)
) STRICT;
