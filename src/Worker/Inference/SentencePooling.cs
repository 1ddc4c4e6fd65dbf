using System.Numerics.Tensors;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Models;

namespace AkiDb.Queue.Worker.Inference;

/// <summary>
/// Per-token states to one sentence vector: masked mean over the real tokens, or the first ([CLS]) token; then L2
/// normalisation. The same rules as the bridge's pooling.py, so both backends give the same vectors.
/// </summary>
public static class SentencePooling
{
    /// <param name="hidden">[rows, sequenceLength, dim] row-major.</param>
    public static float[] Pool(ReadOnlySpan<float> hidden, int rows, int sequenceLength, int dim, ReadOnlySpan<int> lengths, PoolingMode pooling, bool normalize)
    {
        var output = new float[rows * dim];
        for (var row = 0; row < rows; row++)
        {
            var target = output.AsSpan(row * dim, dim);
            var rowStates = hidden.Slice(row * sequenceLength * dim, sequenceLength * dim);
            if (pooling == PoolingMode.Cls)
            {
                rowStates[..dim].CopyTo(target);
            }
            else
            {
                // Summed in double: a long sequence of float additions drifts, and parity with numpy is checked to 1e-5.
                var sum = new double[dim];
                for (var t = 0; t < lengths[row]; t++)
                {
                    var token = rowStates.Slice(t * dim, dim);
                    for (var d = 0; d < dim; d++)
                    {
                        sum[d] += token[d];
                    }
                }

                for (var d = 0; d < dim; d++)
                {
                    target[d] = (float)(sum[d] / lengths[row]);
                }
            }

            if (normalize)
            {
                var norm = TensorPrimitives.Norm(target);
                TensorPrimitives.Divide(target, Math.Max(norm, 1e-12f), target);
            }
        }

        return output;
    }
}
