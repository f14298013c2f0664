"""What every wing may use: paths and atomic writes, the hardware, locks, and loading TensorFlow quietly.

It imports no other charbot wing."""
