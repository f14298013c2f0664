"""The training LSTM on CPUs: a whole layer over a window at once, with a hand-written gradient.

Keras' LSTM layer on a CPU runs the cell step by step for the forward pass and lets autodiff run it
step by step again for the backward pass, with every weight gradient accumulated one time step at a
time. This module computes the same function the way cuDNN and PyTorch do:

- the input projection of every time step is one matrix product before the loop;
- the loop does only the recurrent half (one [batch, units] x [units, 4 units] product per step);
- the backward loop carries only (dh, dc) and keeps each step's gate gradients;
- the weight gradients are three matrix products over the whole window after the loop.

Matrix products run in `compute_dtype` (bfloat16 under mixed precision, with float32 results);
gates, the cell state and everything carried from step to step stay float32. The weights are the
Keras layer's own variables in Keras' gate order (input, forget, cell, output), so checkpoints do not
change. This module holds the arithmetic only: no layers, no training loop, no sampling.
"""

from __future__ import annotations

import tensorflow as tf


def _matmul(a, b, compute_dtype):
    """a @ b in compute_dtype, result float32 (a no-op cast in float32)."""
    return tf.cast(tf.matmul(tf.cast(a, compute_dtype), b), tf.float32)


def _window_matmul(a, b, compute_dtype, transpose_a=False, transpose_b=False):
    """A product over a whole window as one 2-D matrix product (einsum's transposes cost 1.6x here).

    a: [time, batch, n]. With transpose_a, b is [time, batch, m] too and the result [n, m];
    otherwise b is a matrix and the result [time, batch, columns of b (or rows with transpose_b)].
    """
    shape = tf.shape(a)
    flat = lambda t: tf.reshape(tf.cast(t, compute_dtype), [shape[0] * shape[1], -1])  # noqa: E731
    if transpose_a:
        return tf.cast(tf.matmul(flat(a), flat(b), transpose_a=True), tf.float32)
    out = tf.matmul(flat(a), tf.cast(b, compute_dtype), transpose_b=transpose_b)
    return tf.reshape(tf.cast(out, tf.float32), [shape[0], shape[1], -1])


def _gates(z):
    """Pre-activations [batch, 4 units] -> activated gates i, f, g, o (Keras' order)."""
    i, f, g, o = tf.split(z, 4, axis=-1)
    return tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)


def lstm_sequence(x, h, c, kernel, recurrent_kernel, bias, compute_dtype=tf.float32):
    """Run one LSTM layer over a time-major window; differentiable in every input.

    Args:
        x: [time, batch, features] float32 inputs.
        h, c: [batch, units] float32 starting hidden and cell state.
        kernel: [features, 4 units]; recurrent_kernel: [units, 4 units]; bias: [4 units] (float32
            variables, Keras' layout).
        compute_dtype: dtype of the matrix products (tf.float32, tf.bfloat16 or tf.float16).
    Returns:
        (hs [time, batch, units], h after the last step, c after the last step), all float32.
    """

    @tf.custom_gradient
    def run(x, h0, c0, kernel, recurrent_kernel, bias):
        k, r = tf.cast(kernel, compute_dtype), tf.cast(recurrent_kernel, compute_dtype)
        steps = tf.shape(x)[0]
        projected = _window_matmul(x, k, compute_dtype) + bias
        hs, cs, gates = _forward(projected, h0, c0, r, compute_dtype, steps)

        def grad(d_hs, d_h, d_c):
            d_hs, d_h, d_c = (tf.zeros_like(a) if d is None else d for d, a in ((d_hs, hs), (d_h, h0), (d_c, c0)))
            h_prev = tf.concat([h0[None], hs[:-1]], 0)  # [time, batch, units]: h entering each step
            c_prev = tf.concat([c0[None], cs[:-1]], 0)
            d_z, d_h0, d_c0 = _backward(d_hs, d_h, d_c, gates, cs, c_prev, tf.transpose(r), compute_dtype, steps)
            d_kernel = _window_matmul(x, d_z, compute_dtype, transpose_a=True)
            d_recurrent = _window_matmul(h_prev, d_z, compute_dtype, transpose_a=True)
            d_bias = tf.reduce_sum(d_z, axis=[0, 1])
            d_x = _window_matmul(d_z, k, compute_dtype, transpose_b=True)
            return d_x, d_h0, d_c0, d_kernel, d_recurrent, d_bias

        return (hs, hs[-1], cs[-1]), grad

    # Read the variables out here: a custom gradient must see tensors, not variables.
    weights = [tf.convert_to_tensor(w) for w in (kernel, recurrent_kernel, bias)]
    return run(x, h, c, *weights)


def _forward(projected, h, c, recurrent, compute_dtype, steps):
    """The recurrent loop. Returns hs, cs [time, batch, units] and gates [time, batch, 4 units]."""

    def body(t, h, c, hs, cs, gates):
        i, f, g, o = _gates(projected[t] + _matmul(h, recurrent, compute_dtype))
        c = f * c + i * g
        h = o * tf.tanh(c)
        return t + 1, h, c, hs.write(t, h), cs.write(t, c), gates.write(t, tf.concat([i, f, g, o], -1))

    arrays = [tf.TensorArray(tf.float32, size=steps) for _ in range(3)]
    _, _, _, hs, cs, gates = tf.while_loop(lambda t, *_: t < steps, body, (0, h, c, *arrays))
    return hs.stack(), cs.stack(), gates.stack()


def _backward(d_hs, d_h, d_c, gates, cs, c_prev, recurrent_t, compute_dtype, steps):
    """The loop back through time. Returns the pre-activation gradients [time, batch, 4 units] and
    the gradients of the starting h and c."""

    def body(t, d_h, d_c, d_zs):
        i, f, g, o = tf.split(gates[t], 4, axis=-1)
        tanh_c = tf.tanh(cs[t])
        d_h = d_hs[t] + d_h
        d_c = d_c + d_h * o * (1.0 - tanh_c * tanh_c)
        d_z = tf.concat([d_c * g * i * (1.0 - i), d_c * c_prev[t] * f * (1.0 - f), d_c * i * (1.0 - g * g),
                         d_h * tanh_c * o * (1.0 - o)], axis=-1)
        return t - 1, _matmul(d_z, recurrent_t, compute_dtype), d_c * f, d_zs.write(t, d_z)

    d_zs = tf.TensorArray(tf.float32, size=steps)
    _, d_h, d_c, d_zs = tf.while_loop(lambda t, *_: t >= 0, body, (steps - 1, d_h, d_c, d_zs))
    return d_zs.stack(), d_h, d_c
