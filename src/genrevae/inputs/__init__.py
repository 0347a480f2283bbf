"""What the encoder sees: the fused feature table (fuse), the model's input transform
(transform) and the input whitening (whitening), each fit on the train split only."""
