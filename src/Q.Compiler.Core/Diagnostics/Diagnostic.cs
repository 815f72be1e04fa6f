using System;
using System.Collections.Generic;
using System.Globalization;

namespace Q.Compiler.Diagnostics
{
    public enum Severity { Info, Warning, Error }

    /// <summary>One message from the compiler: a stable QC#### id, a severity, the model file and, where it applies, the ONNX node.</summary>
    public sealed class Diagnostic
    {
        public Diagnostic(string id, Severity severity, string message, string? file = null, string? node = null)
        {
            Id = id;
            Severity = severity;
            Message = message;
            File = file;
            Node = node;
        }

        public string Id { get; }
        public Severity Severity { get; }
        public string Message { get; }
        public string? File { get; }
        public string? Node { get; }

        public Diagnostic WithFile(string file) => File is null ? new Diagnostic(Id, Severity, Message, file, Node) : this;

        public override string ToString()
        {
            string where = File is null ? "" : File + ": ";
            string sev = Severity switch { Severity.Error => "error", Severity.Warning => "warning", _ => "info" };
            return string.Format(CultureInfo.InvariantCulture, "{0}{1} {2}: {3}", where, sev, Id, Message);
        }
    }

    /// <summary>Thrown by a pipeline stage that cannot go on; carries the diagnostic the build reports.</summary>
    public sealed class QcException : Exception
    {
        public QcException(Diagnostic diagnostic) : base(diagnostic.ToString()) => Diagnostic = diagnostic;

        public QcException(string id, string message, string? node = null)
            : this(new Diagnostic(id, Severity.Error, message, null, node)) { }

        public Diagnostic Diagnostic { get; }
    }

    /// <summary>Collects non-fatal diagnostics while a stage runs.</summary>
    public sealed class DiagnosticBag
    {
        private readonly List<Diagnostic> _items = new List<Diagnostic>();
        public IReadOnlyList<Diagnostic> Items => _items;
        public void Add(Diagnostic d) => _items.Add(d);
        public void Info(string id, string message, string? node = null) => _items.Add(new Diagnostic(id, Severity.Info, message, null, node));
        public void Warning(string id, string message, string? node = null) => _items.Add(new Diagnostic(id, Severity.Warning, message, null, node));
        public bool HasErrors { get { foreach (var d in _items) if (d.Severity == Severity.Error) return true; return false; } }
    }
}
