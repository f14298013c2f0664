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
change.

With `norm` (`--layer-norm`) the cell is layer-normalised as in the HyperNetworks paper's LN-LSTM:
each gate's pre-activation is normalised over the units (its own gain and shift), and so is the cell
state on its way into the output's tanh (the carried state stays unnormalised). `cell` is that step
for generation; the training loop saves what the hand-written backward pass needs.

This module holds the arithmetic only: no layers, no training loop, no sampling.
"""

from __future__ import annotations

import functools

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


def _sum_over_window(t):
    """t [time, batch, n] summed over time and batch, as a float32 product with a row of ones: Eigen's
    reduction ran 5x slower than oneDNN's product on one thread (11.9 against 2.3 ms for 128 x 32 x 2048)."""
    shape = tf.shape(t)
    rows = tf.reshape(t, [shape[0] * shape[1], -1])
    return tf.matmul(tf.ones([1, shape[0] * shape[1]], t.dtype), rows)[0]


def _gates(z):
    """Pre-activations [batch, 4 units] -> activated gates i, f, g, o (Keras' order)."""
    i, f, g, o = tf.split(z, 4, axis=-1)
    return tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)


EPSILON = 1e-5  # layer normalisation's variance floor


def normalise(z, gamma, beta, groups):
    """Layer normalisation of z [batch, groups * n] within each of `groups` equal parts, then gain and shift.

    Returns (gamma * zhat + beta, zhat, rstd [batch, groups, 1] or [batch, 1]) where zhat = (z - mean) * rstd.
    Shapes are static (no shape ops inside the time loop)."""
    width = gamma.shape[-1]
    parts = tf.reshape(z, [-1, groups, width // groups]) if groups > 1 else z
    centred = parts - tf.reduce_mean(parts, -1, keepdims=True)
    rstd = tf.math.rsqrt(tf.reduce_mean(centred * centred, -1, keepdims=True) + EPSILON)
    zhat = centred * rstd
    if groups > 1:
        zhat = tf.reshape(zhat, [-1, width])
    return zhat * gamma + beta, zhat, rstd


def _normalise_grad(d_zhat, zhat, rstd, groups):
    """The gradient of z from the gradient of zhat (gain applied already), through `normalise`."""
    width = zhat.shape[-1]
    d, x = (tf.reshape(t, [-1, groups, width // groups]) if groups > 1 else t for t in (d_zhat, zhat))
    mean = lambda t: tf.reduce_mean(t, -1, keepdims=True)  # noqa: E731
    d_z = rstd * (d - mean(d) - x * mean(d * x))
    return tf.reshape(d_z, [-1, width]) if groups > 1 else d_z


def cell(z, c, norm=None):
    """One step from the gates' pre-activations z = x kernel + h recurrent + bias [batch, 4 units] and
    the cell state c: (h, c) after it. norm: (gates gain, gates shift, cell gain, cell shift) or None."""
    if norm is not None:
        z = normalise(z, norm[0], norm[1], 4)[0]
    i, f, g, o = _gates(z)
    c = f * c + i * g
    return o * tf.tanh(c if norm is None else normalise(c, norm[2], norm[3], 1)[0]), c


def lstm_sequence(x, h, c, kernel, recurrent_kernel, bias, compute_dtype=tf.float32, norm=None, xla_loops=False):
    """Run one LSTM layer over a time-major window; differentiable in every input.

    Args:
        x: [time, batch, features] float32 inputs.
        h, c: [batch, units] float32 starting hidden and cell state.
        kernel: [features, 4 units]; recurrent_kernel: [units, 4 units]; bias: [4 units] (float32
            variables, Keras' layout).
        compute_dtype: dtype of the matrix products (tf.float32, tf.bfloat16 or tf.float16).
        norm: layer normalisation's (gates gain [4 units], gates shift, cell gain [units], cell shift), or None.
        xla_loops: XLA-compile the loops through time (`_compiled`); the window products stay outside.
    Returns:
        (hs [time, batch, units], h after the last step, c after the last step), all float32.
    """
    forward, backward = (_compiled(loop, xla_loops) for loop in (_forward, _backward))

    @tf.custom_gradient
    def run(x, h0, c0, kernel, recurrent_kernel, bias):
        k, r = tf.cast(kernel, compute_dtype), tf.cast(recurrent_kernel, compute_dtype)
        steps = tf.shape(x)[0]
        projected = _window_matmul(x, k, compute_dtype) + bias
        hs, cs, gates = forward(projected, h0, c0, r, compute_dtype, steps)

        def grad(d_hs, d_h, d_c):
            d_hs, d_h, d_c = (tf.zeros_like(a) if d is None else d for d, a in ((d_hs, hs), (d_h, h0), (d_c, c0)))
            h_prev = tf.concat([h0[None], hs[:-1]], 0)  # [time, batch, units]: h entering each step
            c_prev = tf.concat([c0[None], cs[:-1]], 0)
            d_z, d_h0, d_c0 = backward(d_hs, d_h, d_c, gates, cs, c_prev, tf.transpose(r), compute_dtype, steps)
            d_x, d_kernel, d_recurrent, d_bias = _window_grads(x, h_prev, d_z, k, compute_dtype)
            return d_x, d_h0, d_c0, d_kernel, d_recurrent, d_bias

        return (hs, hs[-1], cs[-1]), grad

    # Read the variables out here: a custom gradient must see tensors, not variables.
    weights = [tf.convert_to_tensor(w) for w in (kernel, recurrent_kernel, bias)]
    if norm is not None:
        return _normalised_sequence(x, h, c, weights, [tf.convert_to_tensor(w) for w in norm], compute_dtype,
                                    xla_loops)
    return run(x, h, c, *weights)


def _compiled(loop, xla: bool):
    """`loop` (a loop through time; its first argument [time, ...], its last the number of steps), XLA-compiled
    when `xla`. On AVX2 CPUs XLA runs the loops' small per-step products and their element-wise work faster
    than the plain graph, and the window products slower than oneDNN: `trainer.xla_pays` measures it."""
    if not xla:
        return loop
    run = _xla_loop(loop)
    return lambda *args: run(*args[:-1])


@functools.cache
def _xla_loop(loop):
    """One tf.function a loop, so that layers of the same shapes share its compiled code."""
    return tf.function(lambda *args: loop(*args, tf.shape(args[0])[0]), jit_compile=True, autograph=False)


def _window_grads(x, h_prev, d_z, kernel, compute_dtype):
    """After the loop back through time: the gradients of x, the kernel, the recurrent kernel and the
    bias from the pre-activation gradients d_z [time, batch, 4 units], each one product over the window
    (d_z cast to compute_dtype once for the three)."""
    products = tf.cast(d_z, compute_dtype)
    return (_window_matmul(products, kernel, compute_dtype, transpose_b=True),
            _window_matmul(x, products, compute_dtype, transpose_a=True),
            _window_matmul(h_prev, products, compute_dtype, transpose_a=True), _sum_over_window(d_z))


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


# --- the layer-normalised cell ----------------------------------------------------------------------

def _normalised_sequence(x, h, c, weights, norm, compute_dtype, xla_loops):
    """`lstm_sequence` with layer normalisation in the cell (same arguments and results)."""
    forward, backward = (_compiled(loop, xla_loops) for loop in (_normalised_forward, _normalised_backward))

    @tf.custom_gradient
    def run(x, h0, c0, kernel, recurrent_kernel, bias, *norm):
        k, r = tf.cast(kernel, compute_dtype), tf.cast(recurrent_kernel, compute_dtype)
        steps = tf.shape(x)[0]
        projected = _window_matmul(x, k, compute_dtype) + bias
        hs, cs, saved = forward(projected, h0, c0, r, norm, compute_dtype, steps)

        def grad(d_hs, d_h, d_c):
            d_hs, d_h, d_c = (tf.zeros_like(a) if d is None else d for d, a in ((d_hs, hs), (d_h, h0), (d_c, c0)))
            h_prev = tf.concat([h0[None], hs[:-1]], 0)
            c_prev = tf.concat([c0[None], cs[:-1]], 0)
            d_z, d_y, d_n, d_h0, d_c0 = backward(d_hs, d_h, d_c, saved, c_prev, tf.transpose(r), norm,
                                                             compute_dtype, steps)
            gates_hat, cells_hat = saved[1], saved[3]
            d_norm = (_sum_over_window(d_y * gates_hat), _sum_over_window(d_y),
                      _sum_over_window(d_n * cells_hat), _sum_over_window(d_n))
            d_x, d_kernel, d_recurrent, d_bias = _window_grads(x, h_prev, d_z, k, compute_dtype)
            return d_x, d_h0, d_c0, d_kernel, d_recurrent, d_bias, *d_norm

        return (hs, hs[-1], cs[-1]), grad

    return run(x, h, c, *weights, *norm)


def _normalised_forward(projected, h, c, recurrent, norm, compute_dtype, steps):
    """The recurrent loop of the normalised cell. Returns hs, cs [time, batch, units] and what the
    backward pass reads: (activated gates, normalised gates, their rstd, normalised cells, their rstd)."""
    gates_gain, gates_shift, cell_gain, cell_shift = norm

    def body(t, h, c, hs, cs, *saved):
        y, z_hat, z_rstd = normalise(projected[t] + _matmul(h, recurrent, compute_dtype), gates_gain, gates_shift, 4)
        i, f, g, o = _gates(y)
        c = f * c + i * g
        n, c_hat, c_rstd = normalise(c, cell_gain, cell_shift, 1)
        h = o * tf.tanh(n)
        values = (tf.concat([i, f, g, o], -1), z_hat, z_rstd, c_hat, c_rstd)
        return (t + 1, h, c, hs.write(t, h), cs.write(t, c), *(a.write(t, v) for a, v in zip(saved, values)))

    arrays = [tf.TensorArray(tf.float32, size=steps) for _ in range(7)]
    _, _, _, *arrays = tf.while_loop(lambda t, *_: t < steps, body, (0, h, c, *arrays))
    hs, cs, *saved = (a.stack() for a in arrays)
    return hs, cs, saved


def _normalised_backward(d_hs, d_h, d_c, saved, c_prev, recurrent_t, norm, compute_dtype, steps):
    """The loop back through time of the normalised cell. Returns the gradients of the pre-activations
    (before normalisation) and of the normalised gates and cell (after gain), [time, batch, ...] each,
    and those of the starting h and c."""
    gates, z_hat, z_rstd, c_hat, c_rstd = saved
    gates_gain, _, cell_gain, cell_shift = norm

    def body(t, d_h, d_c, d_zs, d_ys, d_ns):
        i, f, g, o = tf.split(gates[t], 4, axis=-1)
        tanh_n = tf.tanh(c_hat[t] * cell_gain + cell_shift)
        d_h = d_hs[t] + d_h
        d_n = d_h * o * (1.0 - tanh_n * tanh_n)
        d_c = d_c + _normalise_grad(d_n * cell_gain, c_hat[t], c_rstd[t], 1)
        d_y = tf.concat([d_c * g * i * (1.0 - i), d_c * c_prev[t] * f * (1.0 - f), d_c * i * (1.0 - g * g),
                         d_h * tanh_n * o * (1.0 - o)], axis=-1)
        d_z = _normalise_grad(d_y * gates_gain, z_hat[t], z_rstd[t], 4)
        return (t - 1, _matmul(d_z, recurrent_t, compute_dtype), d_c * f, d_zs.write(t, d_z), d_ys.write(t, d_y),
                d_ns.write(t, d_n))

    arrays = [tf.TensorArray(tf.float32, size=steps) for _ in range(3)]
    _, d_h, d_c, *arrays = tf.while_loop(lambda t, *_: t >= 0, body, (steps - 1, d_h, d_c, *arrays))
    d_zs, d_ys, d_ns = (a.stack() for a in arrays)
    return d_zs, d_ys, d_ns, d_h, d_c
