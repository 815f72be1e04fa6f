using System;
using System.Collections;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using Q.Compiler.Interpreter;
using Q.Compiler.Ir;

namespace Q.Compiler.Quantization
{
    /// <summary>One sample's float reference run: its inputs and every value the interpreter computed from them.</summary>
    public sealed class FloatRun
    {
        private readonly Graph _graph;
        private readonly Dictionary<string, Tensor> _byName;

        internal FloatRun(Graph graph, IReadOnlyList<Tensor> inputs, List<KeyValuePair<string, Tensor>> values)
        {
            _graph = graph;
            Inputs = inputs;
            Values = values;
            _byName = new Dictionary<string, Tensor>(values.Count, StringComparer.Ordinal);
            foreach (var kv in values) _byName[kv.Key] = kv.Value;
            Outputs = graph.Outputs.Select(o => Value(o.Name)).ToList();
            long bytes = 0;
            foreach (var kv in values) bytes += BytesOf(kv.Value);
            Bytes = bytes;
        }

        /// <summary>The sample: one tensor per graph input.</summary>
        public IReadOnlyList<Tensor> Inputs { get; }

        /// <summary>The graph inputs, then every node output in the order the interpreter computed them (constants not included).</summary>
        public IReadOnlyList<KeyValuePair<string, Tensor>> Values { get; }

        /// <summary>The graph outputs.</summary>
        public IReadOnlyList<Tensor> Outputs { get; }

        /// <summary>The bytes of <see cref="Values"/> (an upper bound: a view that shares its input's array is counted twice).</summary>
        public long Bytes { get; }

        /// <summary>A value by name: an input, a node output or a constant of the graph.</summary>
        public Tensor Value(string name) =>
            _byName.TryGetValue(name, out var t) ? t
            : _graph.Constants.TryGetValue(name, out var c) ? c
            : throw new KeyNotFoundException("no value '" + name + "' in the float run");

        private static long BytesOf(Tensor t) =>
            t.Data is string[] s ? 32L * s.Length : Buffer.ByteLength(t.Data);
    }

    /// <summary>
    /// The float reference interpreter over a calibration set, sample by sample, for the passes of a quantized build: the
    /// range statistics (one or two passes), the per-layer SQNR and the model-output SQNR all need the float model's values
    /// on the same samples. A run is kept in memory while the kept runs fit in a byte budget, so that a later pass reuses
    /// it instead of interpreting the graph again; the samples beyond the budget are interpreted again on each pass.
    /// </summary>
    /// <remarks>
    /// <para>A reused run holds the very tensors the interpreter produced (the interpreter is deterministic and nothing
    /// writes to them), so every statistic, range, scale and zero point is the same whatever the budget: only the time
    /// changes. The kept runs are the first samples in order; once one does not fit, no later one is kept.</para>
    /// <para>Each pass (<see cref="Pass"/>, <see cref="Samples"/>) reports its progress through the callback given to the
    /// constructor: a line every <see cref="ProgressInterval"/> during a long pass and one at its end.</para>
    /// </remarks>
    public sealed class FloatRuns
    {
        /// <summary>The default budget for kept runs: 512 MiB.</summary>
        public const long DefaultBudgetBytes = 512L << 20;

        /// <summary>How often a long pass reports how far it got.</summary>
        public static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(5);

        private readonly IEnumerable<IReadOnlyList<Tensor>> _samples;
        private readonly long _budget;
        private readonly Action<string>? _progress;
        private readonly List<FloatRun> _kept = new List<FloatRun>();
        private bool _keptAll, _stoppedKeeping;
        private int? _count;

        /// <param name="graph">The float graph.</param>
        /// <param name="samples">The calibration set (enumerated again for each pass, unless every run is kept).</param>
        /// <param name="budgetBytes">How many bytes of runs to keep (0: keep none, every pass interprets the graph).</param>
        /// <param name="progress">Receives a line of progress for each pass (the build logs it as a low-importance message).</param>
        public FloatRuns(Graph graph, IEnumerable<IReadOnlyList<Tensor>> samples, long budgetBytes = DefaultBudgetBytes, Action<string>? progress = null)
        {
            Graph = graph;
            _samples = samples;
            _budget = budgetBytes;
            _progress = progress;
            _count = samples is CalibrationDataSet set ? set.Count : samples is IReadOnlyCollection<IReadOnlyList<Tensor>> c ? c.Count : (int?)null;
        }

        public Graph Graph { get; }

        /// <summary>How many times the graph was interpreted so far (one per sample and pass that did not reuse a kept run).</summary>
        public int Interpreted { get; private set; }

        /// <summary>How many runs are kept (the first samples, in order).</summary>
        public int KeptRuns => _kept.Count;

        /// <summary>The bytes of the kept runs (at most the budget).</summary>
        public long KeptBytes { get; private set; }

        /// <summary>One pass over the set: the kept runs, then the interpreter on the samples after them.</summary>
        /// <param name="phase">What the pass is for, for the progress lines ("range statistics").</param>
        public IEnumerable<FloatRun> Pass(string phase)
        {
            var p = new PassProgress(this, phase);
            if (_keptAll)
            {
                foreach (var run in _kept) { yield return run; p.Step(reused: true); }
                p.End();
                yield break;
            }
            int i = 0;
            foreach (var sample in _samples)
            {
                if (i < _kept.Count) { yield return _kept[i++]; p.Step(reused: true); continue; }
                var run = Interpret(sample);
                i++;
                if (!_stoppedKeeping && KeptBytes + run.Bytes <= _budget) { _kept.Add(run); KeptBytes += run.Bytes; }
                else _stoppedKeeping = true;
                yield return run;
                p.Step(reused: false);
            }
            _count = i;
            _keptAll = !_stoppedKeeping;
            p.End();
        }

        /// <summary>One pass over the samples alone (from the kept runs where every one is kept, so no file is read again).</summary>
        public IEnumerable<IReadOnlyList<Tensor>> Samples(string phase)
        {
            var p = new PassProgress(this, phase);
            foreach (var sample in _keptAll ? _kept.Select(r => r.Inputs) : _samples)
            {
                yield return sample;
                p.Step(reused: null);
            }
            p.End();
        }

        private FloatRun Interpret(IReadOnlyList<Tensor> sample)
        {
            var values = new List<KeyValuePair<string, Tensor>>(Graph.Nodes.Count + sample.Count);
            for (int i = 0; i < Graph.Inputs.Count && i < sample.Count; i++) values.Add(new KeyValuePair<string, Tensor>(Graph.Inputs[i].Name, sample[i]));
            FloatInterpreter.Run(Graph, sample, (node, name, t) => values.Add(new KeyValuePair<string, Tensor>(name, t)));
            Interpreted++;
            return new FloatRun(Graph, sample, values);
        }

        /// <summary>Progress lines of one pass: every <see cref="ProgressInterval"/>, and a summary at the end.</summary>
        private sealed class PassProgress
        {
            private readonly FloatRuns _runs;
            private readonly string _phase;
            private readonly Stopwatch _clock = Stopwatch.StartNew();
            private TimeSpan _next = ProgressInterval;
            private int _done, _reused, _interpreted;

            public PassProgress(FloatRuns runs, string phase) { _runs = runs; _phase = phase; }

            public void Step(bool? reused)
            {
                _done++;
                if (reused == true) _reused++;
                else if (reused == false) _interpreted++;
                if (_runs._progress is null || _clock.Elapsed < _next) return;
                _next = _clock.Elapsed + ProgressInterval;
                string of = _runs._count is int n ? "/" + n.ToString(CultureInfo.InvariantCulture) : "";
                _runs._progress(string.Format(CultureInfo.InvariantCulture, "{0}: {1}{2} samples, {3:0} s", _phase, _done, of, _clock.Elapsed.TotalSeconds));
            }

            public void End()
            {
                if (_runs._progress is null) return;
                string how = _reused + _interpreted == 0 ? ""
                    : string.Format(CultureInfo.InvariantCulture, " ({0} float runs reused, {1} interpreted)", _reused, _interpreted);
                if (_interpreted > 0)
                    how += string.Format(CultureInfo.InvariantCulture, "; {0} runs kept for the later passes ({1:0.0} MiB of the {2:0} MiB budget)",
                        _runs.KeptRuns, _runs.KeptBytes / 1048576.0, _runs._budget / 1048576.0);
                _runs._progress(string.Format(CultureInfo.InvariantCulture, "{0}: {1} samples in {2:0.0} s{3}", _phase, _done, _clock.Elapsed.TotalSeconds, how));
            }
        }
    }
}
