import { Link } from "react-router";
import type { Problem } from "../explain";

/** An error said in plain words, with a link to where the voter can fix it. */
export function ProblemMessage({ problem }: { problem: Problem }) {
  return (
    <p className="message message-error" role="alert">
      {problem.text}
      {problem.link && (
        <>
          {" "}
          <Link to={problem.link.to}>{problem.link.label}</Link>.
        </>
      )}
    </p>
  );
}
