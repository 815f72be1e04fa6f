using System.Collections.Generic;
using System.Linq;
using Q.Compiler.Ir;
using Q.Compiler.Lowering;

namespace Q.Compiler.Ops
{
    /// <summary>
    /// Everything the compiler knows about one op (or a family of ops sharing code): shape inference,
    /// a reference implementation (used for constant folding, calibration and as a test oracle), and lowering to kernel calls.
    /// Definitions are found by reflection (see <see cref="OpRegistry"/>): adding an op is adding a class.
    /// </summary>
    public abstract class OpDefinition
    {
        /// <summary>The op types this definition handles.</summary>
        public abstract IEnumerable<string> OpTypes { get; }

        /// <summary>"" for ai.onnx.</summary>
        public virtual string Domain => "";

        /// <summary>Output types from input types, attributes and constant inputs. Throws QcException for invalid nodes.</summary>
        public abstract TensorType[] InferTypes(OpContext ctx);

        /// <summary>The reference computation: outputs from inputs (null for omitted optional inputs).</summary>
        public abstract Tensor[] Evaluate(OpContext ctx, IReadOnlyList<Tensor?> inputs);

        /// <summary>Emits kernel calls computing the node.</summary>
        public abstract void Lower(LowerContext ctx);

        /// <summary>
        /// Outputs known at build time, or null. By default: evaluate when every present input is constant.
        /// Shape-only ops (Shape, Size) override this to fold from types alone.
        /// A node whose first input is omitted is not folded: InferTypes then reports the missing input.
        /// </summary>
        public virtual Tensor[]? TryFold(OpContext ctx)
        {
            if (ctx.InputCount > 0 && !ctx.HasInput(0)) return null;
            for (int i = 0; i < ctx.InputCount; i++)
                if (ctx.HasInput(i) && ctx.Constant(i) is null) return null;
            return Evaluate(ctx, ctx.ConstantInputs);
        }

        /// <summary>Checks an op's element types before inference; by default all are accepted.</summary>
        protected static bool AllFloat(OpContext ctx) =>
            Enumerable.Range(0, ctx.InputCount).All(i => !ctx.HasInput(i) || ctx.Input(i).ElementType.IsFloat());
    }
}
