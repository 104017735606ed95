import { Link } from "react-router";

export function NotFoundPage() {
  return (
    <section className="page page-narrow">
      <h1>Page not found</h1>
      <p>
        There is no page here. <Link to="/">See the votings</Link>.
      </p>
    </section>
  );
}
