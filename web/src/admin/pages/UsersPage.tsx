// Finding a user by e-mail address (the API matches the whole address, as at login).

import { useState } from "react";
import type { FormEvent } from "react";
import { Link } from "react-router";
import { request } from "../../shared/api";
import { InputField } from "../components/Field";
import { ErrorNotice } from "../components/Notice";
import { ScrollTable } from "../components/ScrollTable";
import type { UserList, UserSummary } from "../types";

export function UsersPage() {
  const [email, setEmail] = useState("");
  const [found, setFound] = useState<UserSummary[] | null>(null);
  const [searched, setSearched] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function search(event: FormEvent) {
    event.preventDefault();
    const wanted = email.trim();
    if (!wanted) return;
    setBusy(true);
    setError(null);
    try {
      const answer = await request<UserList>(`/admin/users?email=${encodeURIComponent(wanted)}`);
      setFound(answer.items);
      setSearched(wanted);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <form className="card search-form" role="search" onSubmit={search} aria-label="Find a user">
        <InputField
          label="E-mail address"
          type="email"
          required
          value={email}
          onValue={setEmail}
          hint="The whole address; upper and lower case do not matter."
        />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Searching…" : "Find user"}
        </button>
      </form>
      <ErrorNotice error={error} />
      {found?.length === 0 && <p role="status">No user has the address {searched}.</p>}
      {found && found.length > 0 && (
        <ScrollTable label="Users found">
          <thead>
            <tr>
              <th scope="col">E-mail</th>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
            </tr>
          </thead>
          <tbody>
            {found.map((user) => (
              <tr key={user.id}>
                <td>
                  <Link to={`/admin/users/${user.id}`}>{user.email}</Link>
                </td>
                <td>{user.display_name}</td>
                <td>{user.role}</td>
              </tr>
            ))}
          </tbody>
        </ScrollTable>
      )}
    </section>
  );
}
